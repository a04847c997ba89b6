"""Putting jobs on queues: one at a time or in pipelined batches, always JSON, never pickle."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from jobctl.config import Settings
from jobctl.core.catalog import QueuePolicy, check_priority, get_policy
from jobctl.core.jobtypes import JobType, get_job_type
from jobctl.errors import UsageError

BATCH_SIZE = 1000


def rq_queue(connection: redis.Redis, physical: str) -> Queue:
    return Queue(physical, connection=connection, serializer=JSONSerializer)


def check_json(payload: Any) -> None:
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"payload is not JSON-serialisable: {exc}", "pass strings, numbers, lists and dicts") from None


def _resolve(settings: Settings, job_type: str, queue: str | None, priority: str | None):
    jt = get_job_type(job_type)
    policy = get_policy(settings.queues, queue or jt.queue)
    if policy.is_dead_letter:
        raise UsageError("jobs cannot be enqueued on the dead-letter queue directly",
                         "pick the queue the job belongs to")
    return jt, policy, check_priority(priority) or policy.priority


def retry_for(policy: QueuePolicy) -> Retry | None:
    """RQ's Retry with one delay per retry, computed (and jittered) from the queue's backoff."""
    delays = policy.retry_delays()
    return Retry(max=len(delays), interval=delays) if delays else None


def _job_data(jt: JobType, policy: QueuePolicy, priority: str, payload: dict, description: str | None,
              job_id: str | None = None):
    return Queue.prepare_data(
        jt.func,
        args=[payload],
        timeout=policy.timeout,
        result_ttl=policy.completed_ttl,
        failure_ttl=policy.failed_ttl,
        description=description or jt.name,  # RQ would otherwise store repr(args), leaking the payload
        meta={"type": jt.name, "queue": policy.name, "priority": priority},
        retry=retry_for(policy),
        job_id=job_id,
    )


def enqueue(connection: redis.Redis, settings: Settings, job_type: str, payload: dict, *,
            priority: str | None = None, queue: str | None = None, description: str | None = None,
            job_id: str | None = None) -> str:
    """Enqueue one job; returns its id (`job_id` when given: letters, digits, '_' and '-')."""
    return enqueue_many(connection, settings, job_type, [payload], priority=priority, queue=queue,
                        description=description, job_ids=[job_id] if job_id else None)[0]


def enqueue_many(connection: redis.Redis, settings: Settings, job_type: str, payloads: Iterable[dict], *,
                 priority: str | None = None, queue: str | None = None, description: str | None = None,
                 on_batch: Callable[[int], None] | None = None, job_ids: list[str] | None = None) -> list[str]:
    """Enqueue many jobs, one MULTI/EXEC round trip per batch; returns their ids in order.

    Payloads must already be validated: a batch either lands whole or not at all.
    """
    jt, policy, prio = _resolve(settings, job_type, queue, priority)
    target = rq_queue(connection, policy.physical(prio))
    ids: list[str] = []
    batch: list = []

    def flush() -> None:
        with connection.pipeline() as pipe:
            jobs = target.enqueue_many(batch, pipeline=pipe)
            pipe.execute()
        ids.extend(job.id for job in jobs)
        if on_batch:
            on_batch(len(batch))
        batch.clear()

    for n, payload in enumerate(payloads):
        check_json(payload)
        batch.append(_job_data(jt, policy, prio, payload, description, job_ids[n] if job_ids else None))
        if len(batch) >= BATCH_SIZE:
            flush()
    if batch:
        flush()
    return ids
