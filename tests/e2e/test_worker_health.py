"""worker list: a busy worker shows its job's runtime, its heartbeat age and its memory."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jobctl.core.bulk import enqueue_many
from jobctl.core.stats import list_workers
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e


def test_a_busy_worker_reports_its_job_runtime_heartbeat_and_memory(
    procs, redis_client, settings, monkeypatch
):
    monkeypatch.setenv("JOBCTL_HEARTBEAT_INTERVAL", "1")
    # long enough to outlast a `worker list` subprocess on a loaded machine (the burst worker exits after it,
    # unregistered); the worker is killed at the end of the test, so the length costs nothing
    [job_id] = enqueue_many(redis_client, settings, "sleep", [{"seconds": 30}], queue="referral-commission")
    procs.jobctl("worker", "start", "--queue", "referral-commission", "--burst")

    def busy():
        rows = list_workers(redis_client, settings)
        return (
            rows
            and rows[0]["current_job"] == job_id
            and (rows[0]["current_job_seconds"] or 0) >= 1.5
            and rows[0]["rss_bytes"]
            and rows[0]
        )

    row = wait_for(busy, timeout=20, what="the worker to be 1.5 s into its job")
    assert row["alive"] is True and row["heartbeat_age_seconds"] < 3
    assert 10 * 1024**2 < row["rss_bytes"] < 2 * 1024**3
    listed = subprocess.run(
        [sys.executable, "-m", "jobctl", "worker", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    [shown] = json.loads(listed.stdout)["workers"]
    assert shown["current_job"] == job_id and shown["rss_bytes"] > 0


def test_a_killed_worker_is_reported_dead_once(procs, redis_client, settings, monkeypatch):
    import os
    import signal

    from jobctl.config import load_settings
    from jobctl.core import alert_rules

    monkeypatch.setenv("JOBCTL_HEARTBEAT_INTERVAL", "1")
    monkeypatch.setenv("JOBCTL_ALERT_NO_WORKER", "false")
    fast = load_settings()
    worker = procs.jobctl("worker", "start", "--queue", "referral-commission")
    [row] = wait_for(lambda: list_workers(redis_client, fast), timeout=20, what="the worker to register")
    assert alert_rules.evaluate(redis_client, fast) == []  # seen alive
    os.kill(worker.pid, signal.SIGKILL)
    wait_for(lambda: not list_workers(redis_client, fast)[0]["alive"], timeout=20, what="missed heartbeats")
    [died] = alert_rules.evaluate(redis_client, fast)
    assert (died["rule"], died["subject"], died["event"]) == ("worker_died", row["name"], "firing")
    assert alert_rules.evaluate(redis_client, fast) == []  # reported once
