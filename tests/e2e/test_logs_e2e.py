"""--log-format json: every line a JSON object; each finished job with its fields."""

from __future__ import annotations

import json

import pytest

from jobctl.core.enqueue import enqueue_many

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
