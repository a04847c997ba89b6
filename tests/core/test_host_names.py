"""Workers, schedulers and alert evaluators are named HOST:PID:RANDOM, HOST from JOBCTL_HOSTNAME (else the
machine's name); a worker's RQ record carries that host too."""

from __future__ import annotations

import os
import socket

from jobctl.config import load_settings
from jobctl.core.alert_evaluator import AlertEvaluator
from jobctl.core.scheduler import Scheduler
from jobctl.core.worker import JobctlWorker
from tests.core.test_liveness import physical


def test_names_carry_jobctl_hostname(monkeypatch, redis_client):
    monkeypatch.setenv("JOBCTL_HOSTNAME", "worker-2.example.com")
    settings = load_settings()
    worker = JobctlWorker(physical(settings, "email-sending"), connection=redis_client, settings=settings)
    host, pid, rest = worker.name.split(":")
    assert (host, pid) == ("worker-2.example.com", str(os.getpid())) and len(rest) == 8
    worker._rq.register_birth()
    assert redis_client.hget(worker.key, "hostname") == b"worker-2.example.com"
    assert Scheduler(settings).name.startswith(f"worker-2.example.com:{os.getpid()}:")
    assert AlertEvaluator(settings, "monitor").name.startswith("worker-2.example.com:")
    assert AlertEvaluator(settings, "monitor", name="given").name == "given"


def test_the_machine_name_by_default(settings):
    assert settings.hostname == "" and settings.host_name == socket.gethostname()
