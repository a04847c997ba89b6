"""Worker logs: --log-format json lines with each finished job's fields; provider errors redacted
as the faces redact them; an expected failure one warning line, an unexpected one a traceback."""

from __future__ import annotations

import json

import pytest

from jobctl.config import load_settings
from jobctl.core import runtime
from jobctl.core.bulk import enqueue, enqueue_many
from jobctl.core.payloads import generate_key

pytestmark = pytest.mark.e2e


def test_worker_json_logs_carry_job_fields(procs, redis_client, settings):
    [ok] = enqueue_many(redis_client, settings, "noop", [{}], queue="referral-commission")
    [bad] = enqueue_many(
        redis_client, settings, "fail", [{"message": "card declined"}], queue="referral-commission"
    )
    worker = procs.jobctl(
        "worker", "start", "--queue", "referral-commission", "--burst", "--log-format", "json"
    )
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, out
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    jobs = {line["job_id"]: line for line in lines if line["logger"] == "jobctl.jobs"}
    assert jobs[ok]["outcome"] == "completed" and jobs[ok]["type"] == "noop"
    assert jobs[ok]["queue"] == "referral-commission" and jobs[ok]["attempt"] == 1
    assert isinstance(jobs[ok]["duration_ms"], (int, float)) and "error" not in jobs[ok]
    assert jobs[bad]["outcome"] == "dead-lettered" and jobs[bad]["type"] == "fail"
    assert jobs[bad]["error"] == "PermanentJobFailure: card declined"


def test_bad_log_format_exits_2(procs):
    worker = procs.jobctl("worker", "start", "--queue", "email-sending", "--log-format", "xml")
    out, _ = worker.communicate(timeout=30)
    assert worker.returncode == 2 and "--log-format 'xml' is not text or json" in out


def _burst(procs, queue: str, env: dict | None = None) -> str:
    worker = procs.jobctl("worker", "start", "--queue", queue, "--burst", env=env)
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, out
    return out


def _lines(out: str, job_id: str) -> list[str]:
    return [line for line in out.splitlines() if job_id in line]


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_a_providers_error_reaches_the_log_with_the_address_masked(
    encrypted, procs, smtp_server, monkeypatch, redis_client
):
    for name, value in {
        "EMAIL_PROVIDER": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_server.port),
        "JOBCTL_SMTP_SECURITY": "none",
        **({"JOBCTL_ENCRYPTION_KEYS": generate_key()} if encrypted else {}),
    }.items():
        monkeypatch.setenv(name, value)
    runtime.reset()  # this process encrypts with the keys the worker reads
    payload = {
        "to": "reject-ann.lee@example.com",
        "template": "welcome",
        "data": {"name": "Ann", "login_url": "https://shop.example/login"},
    }
    job_id = enqueue(redis_client, runtime.settings(), "email", payload, queue="email-sending")
    out = _burst(procs, "email-sending")
    assert "ann.lee" not in out  # the server answered "550 5.1.1 <reject-ann.lee@example.com>: ..."
    [line, *_alert] = _lines(out, job_id)
    assert " WARNING jobctl.jobs: " in line and "attempt 1/" in line and "; dead-lettered" in line
    assert "550 5.1.1 <r***@example.com>: mailbox unavailable" in line
    assert "Traceback" not in out


@pytest.mark.parametrize("level, tracebacks", [("INFO", 0), ("DEBUG", 2)])
def test_expected_failures_are_one_line_per_attempt(level, tracebacks, procs, redis_client, tmp_path):
    (tmp_path / "jobctl.toml").write_text(
        "[queues.payment-retry]\nattempts = 3\n[queues.payment-retry.backoff]\ndelays = [0]\n"
    )
    payload = {"counter": str(tmp_path / "c"), "fail_times": 2}
    job_id = enqueue(redis_client, load_settings(), "flaky", payload, queue="payment-retry")
    out = _burst(procs, "payment-retry", env={"JOBCTL_LOG_LEVEL": level})
    assert out.count("Traceback (most recent call last)") == tracebacks  # at DEBUG only
    first, second, done = [
        line for line in _lines(out, job_id) if "jobctl.jobs: " in line and " DEBUG " not in line
    ]
    for n, line in ((1, first), (2, second)):
        assert " WARNING " in line
        assert (
            f"attempt {n}/3 failed after " in line
            and f": TransientJobFailure: flaky failure {n} of 2; retry now" in line
        )
    assert " INFO " in done and "completed" in done


def test_an_unexpected_exception_keeps_its_traceback_redacted(procs, redis_client, settings):
    payload = {"message": "bug while mailing ann.lee@example.com", "unexpected": True}
    [job_id] = enqueue_many(redis_client, settings, "fail", [payload], queue="referral-commission")
    out = _burst(procs, "referral-commission")
    assert " ERROR jobctl.jobs: " in _lines(out, job_id)[0]
    assert (
        "Traceback (most recent call last)" in out
        and "RuntimeError: bug while mailing a***@example.com" in out
    )
    assert "ann.lee" not in out
