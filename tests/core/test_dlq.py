from __future__ import annotations

import logging
import time

import pytest

from jobctl.config import load_settings
from jobctl.core import dlq
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.worker import JobctlJob, JobctlWorker
from jobctl.errors import NotFound, UsageError


def dead_jobs(conn, settings, n: int) -> list[str]:
    """n jobs that fail non-retryably, run by an in-process jobctl worker: n dead-letter entries."""
    ids = enqueue_many(
        conn, settings, "fail", [{"message": f"boom {i}"} for i in range(n)], queue="payment-retry"
    )
    policy = queue_catalog(settings)["payment-retry"]
    JobctlWorker(
        [rq_queue(conn, q) for q in policy.physical_names],
        connection=conn,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)
    return ids


def test_entries_carry_what_is_needed_to_replay(settings, redis_client):
    [job_id] = dead_jobs(redis_client, settings, 1)
    entry = dlq.get_entry(redis_client, job_id)
    assert entry["state"] == "dead" and entry["queue"] == "payment-retry" and entry["priority"] == "normal"
    assert entry["payload"] == {"message": "boom 0"} and entry["func"] == "jobctl.jobs.noop.fail"
    assert entry["error_type"] == "PermanentJobFailure" and entry["attempts"][0]["outcome"] == "failed"
    assert redis_client.ttl(f"{JobctlJob.redis_job_namespace_prefix}{job_id}") == -1  # kept until purged


def test_retention_by_count_drops_oldest_and_logs(monkeypatch, redis_client, caplog):
    monkeypatch.setenv("JOBCTL_DLQ_MAX_ENTRIES", "2")
    settings = load_settings()
    ids = []
    for _ in range(4):
        ids += dead_jobs(redis_client, settings, 1)
        time.sleep(0.01)  # distinct died-at scores
    with caplog.at_level(logging.WARNING, logger="jobctl.dlq"):
        dropped = dlq.enforce_retention(redis_client, settings)
    assert dropped == ids[:2]
    assert [e["job_id"] for e in dlq.list_entries(redis_client, settings)["entries"]] == ids[:1:-1]
    assert sum("dropped dead-letter entry" in r.message for r in caplog.records) == 2
    with pytest.raises(NotFound):
        dlq.get_entry(redis_client, ids[0])


def test_retention_by_age(monkeypatch, redis_client):
    monkeypatch.setenv("JOBCTL_DLQ_MAX_AGE", "1h")
    settings = load_settings()
    ids = dead_jobs(redis_client, settings, 3)
    assert dlq.enforce_retention(redis_client, settings) == []
    assert sorted(dlq.enforce_retention(redis_client, settings, now=time.time() + 3601)) == sorted(ids)


def test_selection_needs_ids_or_all(settings, redis_client):
    with pytest.raises(UsageError, match="no job ids"):
        dlq.replay(redis_client, settings)
    with pytest.raises(UsageError, match="not both"):
        dlq.purge(redis_client, settings, ["x"], everything=True)
    with pytest.raises(UsageError, match="cursor"):
        dlq.list_entries(redis_client, settings, cursor="abc")


def test_replay_of_a_purged_job_hash_rebuilds_it_from_the_entry(settings, redis_client):
    [job_id] = dead_jobs(redis_client, settings, 1)
    redis_client.delete(f"{JobctlJob.redis_job_namespace_prefix}{job_id}")
    assert dlq.replay(redis_client, settings, [job_id])["replayed"] == [job_id]
    job = JobctlJob.fetch(job_id, connection=redis_client, serializer=PayloadSerializer)
    assert job.get_status() == "queued" and job.args == [{"message": "boom 0"}]
    assert job.origin == "payment-retry:normal" and job.retries_left == 4
