"""Two real `jobctl workers start` supervisors: exactly one evaluates the alert rules, and the other
takes over when it stops; `alerts list` follows."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from jobctl.core import alert_rules
from jobctl.core.alert_evaluator import evaluator_status
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

FAST = {"JOBCTL_SCHEDULER_LEASE": "2", "JOBCTL_HEARTBEAT_INTERVAL": "1"}


def _pid_of(name: str | None) -> int | None:
    """Evaluators are named host:pid:random; the pid is the supervisor's."""
    return int(name.split(":")[1]) if name else None


def _alerts_list() -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "jobctl", "alerts", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_two_supervisors_one_evaluator_and_a_takeover(procs, redis_client, settings):
    assert _alerts_list()["evaluation"]["fresh"] is False
    first = procs.jobctl("workers", "start", env=FAST)
    second = procs.jobctl("workers", "start", env=FAST)
    record = wait_for(
        lambda: alert_rules.last_evaluation(redis_client)["by"], timeout=30, what="a first evaluation"
    )
    holder = _pid_of(record)
    assert holder in (first.pid, second.pid) and record.startswith(socket.gethostname())
    for _ in range(6):  # both supervisors keep stepping; the lease and the record stay with one
        time.sleep(0.5)
        assert _pid_of(evaluator_status(redis_client)["holder"]) == holder
    evaluation = alert_rules.last_evaluation(redis_client)
    assert (
        _pid_of(evaluation["by"]) == holder and evaluation["role"] == "workers" and evaluation["count"] == 1
    )
    listed = _alerts_list()
    assert listed["evaluation"]["fresh"] is True and {r["state"] for r in listed["rules"]} == {"ok"}

    leaving, staying = (first, second) if holder == first.pid else (second, first)
    leaving.send_signal(signal.SIGTERM)
    assert leaving.wait(30) == 0
    wait_for(
        lambda: _pid_of(evaluator_status(redis_client)["holder"]) == staying.pid,
        timeout=10,
        what="the other supervisor to take the evaluator lease",
    )
