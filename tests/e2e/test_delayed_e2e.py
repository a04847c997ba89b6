"""A delayed job from the real CLI, run by a real worker process once it is due, not before."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from rq.job import Job

from jobctl.core.payloads import PayloadSerializer
from jobctl.core.stats import queue_stats
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_noop_in_2s_runs_once_due(procs, settings, redis_client):
    enq = procs.jobctl("enqueue", "noop", "--queue", "daily-reports", "--in", "2s", "--json")
    out, _ = enq.communicate(timeout=60)
    assert enq.returncode == 0, out
    data = json.loads(out)
    job_id, due = data["job_id"], datetime.fromisoformat(data["scheduled_for"])
    job = Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer)
    assert job.get_status() in ("scheduled", "queued")  # queued only if this machine is very slow

    procs.jobctl("worker", "start", "--queue", "daily-reports")

    def finished():
        job.refresh()
        return job.get_status() == "finished"

    wait_for(finished, timeout=60, interval=0.1, what="the delayed job to run")
    assert job.started_at is not None and job.ended_at is not None
    assert _utc(job.started_at) >= due, (job.started_at, due)  # never before its time
    assert _utc(job.enqueued_at) >= due  # the scheduler put it on the queue when due, not at enqueue time
    q = queue_stats(redis_client, settings, "daily-reports")["queues"][0]["totals"]
    assert q["scheduled"] == 0 and q["waiting"] == 0 and q["completed"] == 1
