"""Retries, the dead-letter queue and crashes, with real worker processes on a real Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime

import pytest
import redis
from rq.job import Job

from jobctl.config import load_settings
from jobctl.core import dlq
from jobctl.core.bulk import enqueue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.stats import queue_stats
from tests.conftest import KEY_PREFIX
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

FAST = {"JOBCTL_HEARTBEAT_INTERVAL": "1", "JOBCTL_MAINTENANCE_INTERVAL": "1", "JOBCTL_ALERT_COOLDOWN": "0"}


@pytest.fixture
def fast(monkeypatch, tmp_path):
    """Short heartbeats and sweeps, and a queue whose retries wait 1 s then 2 s."""
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "jobctl.toml").write_text(
        "[queues.payment-retry]\nattempts = 3\n[queues.payment-retry.backoff]\ndelays = [1, 2]\n"
        "[queues.referral-commission]\nattempts = 2\n[queues.referral-commission.backoff]\ndelays = [1]\n"
    )
    return load_settings()


def job(conn, job_id) -> Job | None:
    return Job.fetch_many([job_id], connection=conn, serializer=PayloadSerializer)[0]


def status(conn, job_id) -> str | None:
    found = job(conn, job_id)
    return found.get_status() if found else None


def jobctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobctl", *args], capture_output=True, text=True, timeout=60)


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_transient_failures_then_success_with_policy_backoff(procs, fast, redis_client, tmp_path):
    job_id = enqueue(
        redis_client, fast, "flaky", {"counter": str(tmp_path / "c"), "fail_times": 2}, queue="payment-retry"
    )
    procs.jobctl("worker", "start", "--queue", "payment-retry")
    wait_for(lambda: status(redis_client, job_id) == "finished", timeout=30, what="the third attempt")
    attempts = job(redis_client, job_id).meta["attempts"]
    assert [a["outcome"] for a in attempts] == ["failed", "failed", "succeeded"]
    assert attempts[0]["error_type"] == "TransientJobFailure" and attempts[0]["worker"]
    first_wait = ts(attempts[1]["started_at"]) - ts(attempts[0]["ended_at"])
    second_wait = ts(attempts[2]["started_at"]) - ts(attempts[1]["ended_at"])
    assert 0.9 <= first_wait < 4 and 1.9 <= second_wait < 5  # 1 s then 2 s, plus scheduler polling (1 s)
    assert queue_stats(redis_client, fast)["dead_letter"] == 0


def test_exhaustion_dead_letters_and_alerts_by_email_and_webhook(
    procs, fast, redis_client, tmp_path, smtp_server, webhook, monkeypatch
):
    monkeypatch.setenv("JOBCTL_ADMIN_EMAILS", "oncall@example.com")
    monkeypatch.setenv("JOBCTL_ALERT_WEBHOOK_URL", webhook.url())
    monkeypatch.setenv("EMAIL_PROVIDER", "smtp")
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("JOBCTL_SMTP_SECURITY", "none")
    settings = load_settings()
    payload = {"counter": str(tmp_path / "c"), "fail_times": 99}
    job_id = enqueue(redis_client, settings, "flaky", payload, queue="referral-commission", priority="high")
    procs.jobctl("worker", "start", "--queue", "referral-commission", "--queue", "email-sending")

    wait_for(lambda: dlq.read_entry(redis_client, job_id), timeout=30, what="the dead-letter entry")
    entry = dlq.get_entry(redis_client, job_id)
    assert entry["queue"] == "referral-commission" and entry["priority"] == "high"
    assert entry["payload"] == payload and entry["type"] == "flaky"
    assert entry["attempt_count"] == 2 and [a["outcome"] for a in entry["attempts"]] == ["failed", "failed"]
    assert "TransientJobFailure" in entry["traceback"] and "Traceback" in entry["traceback"]
    assert entry["first_enqueued_at"] and entry["died_at"] and entry["worker"]
    assert queue_stats(redis_client, settings, "referral-commission")["queues"][0]["totals"]["failed"] == 0

    wait_for(lambda: webhook.bodies, timeout=15, what="the webhook")
    assert webhook.bodies[0]["queue"] == "referral-commission" and webhook.bodies[0]["job_id"] == job_id
    assert str(tmp_path) not in json.dumps(webhook.bodies)  # the payload stays out of alerts
    wait_for(lambda: smtp_server.handler.messages, timeout=20, what="the alert email")
    mail = smtp_server.handler.messages[0]
    assert mail["rcpt_tos"] == ["oncall@example.com"] and b"referral-commission" in mail["data"]


def test_non_retryable_error_dead_letters_after_one_attempt(procs, fast, redis_client):
    job_id = enqueue(redis_client, fast, "fail", {"message": "card declined"}, queue="payment-retry")
    finish = procs.jobctl("worker", "start", "--queue", "payment-retry", "--burst")
    finish.communicate(timeout=30)
    entry = dlq.get_entry(redis_client, job_id)
    assert entry["attempt_count"] == 1
    assert entry["error_type"] == "PermanentJobFailure" and entry["error_message"] == "card declined"


def test_sigkill_mid_job_is_retried_on_another_worker(procs, fast, redis_client):
    job_id = enqueue(redis_client, fast, "sleep", {"seconds": 2}, queue="referral-commission")
    first = procs.jobctl("worker", "start", "--queue", "referral-commission")
    wait_for(lambda: status(redis_client, job_id) == "started", what="the first attempt")
    os.kill(first.pid, signal.SIGKILL)  # the worker only: its scheduler notices and lets go of its locks
    procs.jobctl("worker", "start", "--queue", "referral-commission")
    wait_for(
        lambda: status(redis_client, job_id) == "finished", timeout=40, what="the second worker to finish it"
    )
    attempts = job(redis_client, job_id).meta["attempts"]
    assert [a["outcome"] for a in attempts] == ["abandoned", "succeeded"]
    assert attempts[0]["worker"] != attempts[1]["worker"]


def test_dlq_retry_replays_with_same_id_and_completes(procs, fast, redis_client, tmp_path):
    job_id = enqueue(
        redis_client,
        fast,
        "flaky",
        {"counter": str(tmp_path / "c"), "fail_times": 2},
        queue="referral-commission",
    )
    worker = procs.jobctl("worker", "start", "--queue", "referral-commission")
    wait_for(lambda: dlq.read_entry(redis_client, job_id), timeout=30, what="the dead-letter entry")

    listed = json.loads(jobctl("dlq", "list", "--json").stdout)
    assert [e["job_id"] for e in listed["entries"]] == [job_id]
    result = jobctl("dlq", "retry", job_id, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["replayed"] == [job_id]
    wait_for(lambda: status(redis_client, job_id) == "finished", timeout=30, what="the replay to complete")
    replayed = job(redis_client, job_id)
    assert replayed.meta["replays"][0]["attempts_before"] == 2
    assert [a["outcome"] for a in replayed.meta["attempts"]] == ["succeeded"]
    entry = dlq.get_entry(redis_client, job_id)
    assert entry["state"] == "replayed" and len(entry["replays"]) == 1
    assert json.loads(jobctl("dlq", "list", "--json").stdout)["entries"] == []
    worker.send_signal(signal.SIGTERM)


def snapshot(conn: redis.Redis) -> dict:
    """Every key under the test's prefix with its value, leaving out short-lived locks."""
    return {
        k: conn.dump(k)
        for k in sorted(conn.scan_iter(match=f"{KEY_PREFIX}:*"))
        if conn.pttl(k) == -1 or conn.pttl(k) > 120_000
    }


def test_dry_runs_change_nothing_and_unknown_ids_exit_4(procs, fast, redis_client):
    ids = [enqueue(redis_client, fast, "fail", {}, queue="payment-retry") for _ in range(3)]
    procs.jobctl("worker", "start", "--queue", "payment-retry", "--burst").communicate(timeout=30)
    assert all(dlq.read_entry(redis_client, i) for i in ids)

    before = snapshot(redis_client)
    for args in (
        ("dlq", "retry", "--all", "--dry-run"),
        ("dlq", "purge", "--all", "--dry-run"),
        ("dlq", "retry", ids[0], "--dry-run"),
    ):
        out = jobctl(*args, "--json")
        assert out.returncode == 0, out.stderr
    assert len(json.loads(jobctl("dlq", "purge", "--all", "--dry-run", "--json").stdout)["would_purge"]) == 3
    assert snapshot(redis_client) == before

    for args in (("dlq", "show", "nope"), ("dlq", "retry", "nope"), ("dlq", "purge", "nope", "--yes")):
        out = jobctl(*args)
        assert out.returncode == 4, (args, out.stderr)
        assert "nope" in out.stderr and "Traceback" not in out.stderr
    partial = jobctl("dlq", "retry", ids[0], "nope", "--json")
    assert partial.returncode == 1 and "nope" in partial.stderr

    refused = jobctl("dlq", "purge", "--all")  # no terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    purged = json.loads(jobctl("dlq", "purge", "--all", "--yes", "--json").stdout)
    assert sorted(purged["purged"]) == sorted(ids[1:])
    assert queue_stats(redis_client, fast)["dead_letter"] == 0


def test_dlq_list_filters_and_pages(procs, fast, redis_client):
    for i in range(5):
        enqueue(redis_client, fast, "fail", {"message": f"declined {i}"}, queue="payment-retry")
    enqueue(redis_client, fast, "fail", {"message": "bounced"}, queue="referral-commission")
    procs.jobctl(
        "worker", "start", "--queue", "payment-retry", "--queue", "referral-commission", "--burst"
    ).communicate(timeout=30)
    page1 = dlq.list_entries(redis_client, fast, queue="payment-retry", limit=3)
    assert len(page1["entries"]) == 3 and page1["next_cursor"]
    page2 = dlq.list_entries(redis_client, fast, queue="payment-retry", limit=3, cursor=page1["next_cursor"])
    assert len(page2["entries"]) == 2 and page2["next_cursor"] is None
    died = [e["died_at"] for e in page1["entries"] + page2["entries"]]
    assert died == sorted(died, reverse=True)  # newest first
    assert [
        e["error_message"] for e in dlq.list_entries(redis_client, fast, error_contains="BOUNCED")["entries"]
    ] == ["bounced"]
    assert len(dlq.list_entries(redis_client, fast, since="1h")["entries"]) == 6
    bad = jobctl("dlq", "list", "--since", "yesterday")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_redis_connection_loss_during_a_job(procs, own_redis, monkeypatch):
    monkeypatch.setenv("REDIS_URL", own_redis.url)
    own_redis.start()
    client = redis.Redis.from_url(own_redis.url)
    settings = load_settings()
    job_id = enqueue(client, settings, "sleep", {"seconds": 2}, queue="daily-reports")
    procs.jobctl("worker", "start", "--queue", "daily-reports")
    wait_for(lambda: status(client, job_id) == "started", what="the job to start")
    killed = client.client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1
    wait_for(lambda: status(client, job_id) == "finished", timeout=30, what="the outcome to be recorded")
    client.close()


def test_cancel_stops_a_running_job(procs, fast, redis_client):
    job_id = enqueue(redis_client, fast, "sleep", {"seconds": 30}, queue="daily-reports")
    procs.jobctl("worker", "start", "--queue", "daily-reports")
    wait_for(lambda: status(redis_client, job_id) == "started", what="the job to start")
    out = jobctl("job", "cancel", job_id, "--json")
    assert out.returncode == 0, out.stderr
    wait_for(lambda: status(redis_client, job_id) == "stopped", timeout=15, what="the job to stop")
    assert job(redis_client, job_id).meta["attempts"][-1]["outcome"] == "stopped"
    assert dlq.read_entry(redis_client, job_id) is None  # a cancelled job is not dead


def test_paused_queue_is_not_worked_until_resumed(procs, fast, redis_client):
    assert jobctl("queue", "pause", "weekly-reports").returncode == 0
    job_id = enqueue(redis_client, fast, "noop", {}, queue="weekly-reports")
    other = enqueue(redis_client, fast, "noop", {}, queue="daily-reports")
    procs.jobctl("worker", "start", "--queue", "weekly-reports", "--queue", "daily-reports")
    wait_for(lambda: status(redis_client, other) == "finished", what="the unpaused queue")
    assert status(redis_client, job_id) == "queued"
    assert jobctl("queue", "resume", "weekly-reports").returncode == 0
    wait_for(lambda: status(redis_client, job_id) == "finished", timeout=15, what="the resumed queue")
