"""Real workers, a real HTTP fake provider: a SIGKILL mid-request and a DLQ replay never charge twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from jobctl.config import load_settings
from jobctl.core import dlq, runtime
from jobctl.data import engine_for
from tests.e2e.conftest import wait_for
from tests.jobs.payments.store import make_payment, payment_row

pytestmark = pytest.mark.e2e

FAST = {
    "JOBCTL_HEARTBEAT_INTERVAL": "1",
    "JOBCTL_MAINTENANCE_INTERVAL": "1",
    "JOBCTL_ALERT_COOLDOWN": "0",
    "JOBCTL_PAYMENT_TIMEOUT": "2",
}


@pytest.fixture
def fast(monkeypatch, tmp_path, fake_provider):
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    (tmp_path / "jobctl.toml").write_text(
        "[queues.payment-retry]\nattempts = 3\n[queues.payment-retry.backoff]\ndelays = [1, 1]\n"
    )
    runtime.reset()
    return load_settings()


def jobctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobctl", *args], capture_output=True, text=True, timeout=60)


def enqueue_retry(made: dict) -> str:
    result = jobctl(
        "enqueue",
        "payment",
        "--payment-id",
        str(made["payment_id"]),
        "--provider",
        made["provider"],
        "--amount",
        f"{made['amount_cents'] / 100:.2f}",
        "--currency",
        made["currency"],
        "--customer-id",
        made["customer_id"],
        "--json",
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["job_id"]


def test_a_worker_killed_mid_request_does_not_cause_a_second_capture(
    procs, fast, fake_provider, redis_client
):
    engine = engine_for(fast)
    made = make_payment(engine)
    fake_provider.script("pi_test_1", ["hang:3"])  # the provider charges, slowly
    job_id = enqueue_retry(made)
    first = procs.jobctl("worker", "start", "--queue", "payment-retry")
    wait_for(lambda: fake_provider.keys_seen("pi_test_1"), timeout=20, what="the charge request")
    os.kill(first.pid, signal.SIGKILL)  # mid-request: the capture happens, its answer has nobody to go to
    wait_for(lambda: fake_provider.captures_for(1), timeout=10, what="the provider to capture")
    procs.jobctl("worker", "start", "--queue", "payment-retry")
    wait_for(lambda: payment_row(engine).status == "paid", timeout=40, what="the second worker to settle it")
    assert len(fake_provider.captures_for(1)) == 1
    assert set(fake_provider.keys_seen("pi_test_1")) == {"jobctl-pay-1-r1"}
    shown = json.loads(jobctl("job", "show", job_id, "--json").stdout)
    assert [a["outcome"] for a in shown["attempts"]["history"]][-1] == "succeeded"
    assert shown["attempts"]["history"][0]["outcome"] == "abandoned"


def test_a_dead_lettered_retry_replays_under_the_same_key(procs, fast, fake_provider, redis_client):
    engine = engine_for(fast)
    made = make_payment(engine)
    # attempt 1 charges but times out; attempts 2 and 3 hit an outage: the job dies with the capture made
    fake_provider.script("pi_test_1", ["timeout:3", "503", "503"])
    job_id = enqueue_retry(made)
    worker = procs.jobctl("worker", "start", "--queue", "payment-retry")
    wait_for(lambda: dlq.read_entry(redis_client, job_id), timeout=40, what="the dead-letter entry")
    assert len(fake_provider.captures_for(1)) == 1 and payment_row(engine).status == "processing"

    replay = jobctl("dlq", "retry", job_id, "--yes", "--json")
    assert replay.returncode == 0, replay.stderr
    wait_for(lambda: payment_row(engine).status == "paid", timeout=30, what="the replay to settle it")
    assert len(fake_provider.captures_for(1)) == 1  # the replay got the first capture's answer back
    assert set(fake_provider.keys_seen("pi_test_1")) == {"jobctl-pay-1-r1"}
    worker.send_signal(signal.SIGTERM)


def test_retry_after_holds_the_next_attempt_back(procs, fast, fake_provider, redis_client):
    engine = engine_for(fast)
    made = make_payment(engine)
    fake_provider.script("pi_test_1", ["429:4"])
    job_id = enqueue_retry(made)
    procs.jobctl("worker", "start", "--queue", "payment-retry")
    wait_for(lambda: payment_row(engine).status == "paid", timeout=40, what="the retry after Retry-After")
    history = json.loads(jobctl("job", "show", job_id, "--json").stdout)["attempts"]["history"]
    from datetime import datetime

    gap = datetime.fromisoformat(history[1]["started_at"]) - datetime.fromisoformat(history[0]["ended_at"])
    assert history[0]["retry_after"] == 4 and gap.total_seconds() >= 4  # the policy alone would wait 1 s
