"""Many dead-letter entries fast, for the bulk purge tests.

`many_dead` enqueues real jobs and dead-letters them with what `dlq.add` writes (entry, both
indexes, job hash kept without expiry, group index), 1,000 jobs a transaction: `dlq.add` makes two
round trips per job, so 20,000 entries would take some 15 s of test time. The entries are built by
`dlq.build_entry` / `dlq.stored_form` and grouped by `dlq_groups.group`, so they are what a worker
writes; `test_many_dead_writes_what_dlq_add_writes` keeps the two in step.
"""

from __future__ import annotations

import time

import redis
from rq.job import Job, JobStatus

from jobctl.config import Settings
from jobctl.core import dlq, dlq_groups, keyspace
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.stats import queue_key

BATCH = 1_000


def many_dead(
    conn: redis.Redis, settings: Settings, n: int, *, queue: str = "payment-retry", message: str = "boom {i}"
) -> list[str]:
    """n dead-letter entries of jobs from `queue` whose error is `message` (with {i} the job's number)."""
    ids = enqueue_many(conn, settings, "fail", [{"message": f"x{i}"} for i in range(n)], queue=queue)
    conn.delete(*(queue_key(p) for p in queue_catalog(settings)[queue].physical_names))  # as if taken
    for start in range(0, n, BATCH):
        jobs = Job.fetch_many(ids[start : start + BATCH], connection=conn, serializer=PayloadSerializer)
        entries = []
        with conn.pipeline() as pipe:
            for i, job in enumerate(jobs, start):
                assert job is not None
                text = message.format(i=i)
                trace = f"Traceback (most recent call last):\nPermanentJobFailure: {text}"
                entry = dlq.build_entry(job, trace, "w1")
                entries.append(entry)
                score = time.time()
                pipe.set(keyspace.dlq_entry(job.id), dlq.stored_form(entry))
                pipe.zadd(keyspace.dlq_index(), {job.id: score})
                pipe.zadd(keyspace.dlq_queue_index(entry["queue"]), {job.id: score})
                pipe.persist(job.key)
                pipe.hset(
                    job.key,
                    mapping={
                        "meta": job.serializer.dumps(job.meta),
                        "status": JobStatus.FAILED.value,
                        "jobctl_abandoned": "[]",
                    },
                )
            dlq_groups.group(pipe, entries)
            pipe.execute()
    return ids
