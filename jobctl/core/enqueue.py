"""Putting jobs on queues: one at a time or in pipelined batches, always JSON, never pickle."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.queue import EnqueueData
from rq.registry import ScheduledJobRegistry

from jobctl.config import Settings
from jobctl.core.catalog import QueuePolicy, check_priority, get_policy, queue_catalog
from jobctl.core.connection import decoded
from jobctl.core.jobtypes import JobType, get_job_type
from jobctl.core.payloads import PayloadSerializer
from jobctl.durations import parse_duration
from jobctl.errors import UsageError

log = logging.getLogger("jobctl.enqueue")
REPLICA_WAIT_MS = 1000  # JOBCTL_ENQUEUE_REPLICAS: longest an enqueue waits for its replicas

PAST_GRACE = 5  # seconds: an --at this close to now is a clock skew or a slow hand, not a mistake
AT_EXAMPLE = "2026-12-01T09:00:00+03:00"


def rq_queue(connection: redis.Redis, physical: str) -> Queue:
    return Queue(physical, connection=connection, serializer=PayloadSerializer)


def check_target(settings: Settings, job_type: str, queue: str | None, priority: str | None):
    """(job type, queue policy, priority) a job would be queued with; UsageError/NotFound if it cannot."""
    jt = get_job_type(job_type, settings)  # a test-only type only with JOBCTL_TEST_JOB_TYPES
    policy = get_policy(queue_catalog(settings), queue or jt.queue)
    if policy.is_dead_letter:
        raise UsageError(
            "jobs cannot be enqueued on the dead-letter queue directly", "pick the queue the job belongs to"
        )
    return jt, policy, check_priority(priority) or policy.priority


def retry_for(policy: QueuePolicy) -> Retry | None:
    """RQ's Retry with one delay per retry, computed (and jittered) from the queue's backoff."""
    delays = policy.retry_delays()
    return Retry(max=len(delays), interval=delays) if delays else None


def _as_delay(delay: object, name: str) -> timedelta:  # checks what callers of the API pass
    if isinstance(delay, bool) or not isinstance(delay, timedelta | int | float):
        raise UsageError(f"{name} must be a number of seconds or a timedelta, got {delay!r}", "e.g. delay=90")
    try:
        value = delay if isinstance(delay, timedelta) else timedelta(seconds=delay)
    except (OverflowError, ValueError):
        raise UsageError(f"{name} {delay!r} is out of range", "use a delay of at most a few years") from None
    if not value > timedelta(0):
        raise UsageError(f"{name} must be more than zero, got {delay!r}", "leave it out to run the job now")
    return value


def scheduled_time(
    at: datetime | None = None,
    delay: timedelta | float | None = None,
    *,
    now: datetime | None = None,
    at_name: str = "at",
    delay_name: str = "delay",
) -> datetime | None:
    """The aware UTC time jobs given `at`/`delay` are scheduled for, or None to run now.

    RQ scores its scheduled registry in whole seconds, rounding down, so a job due at 10.7 s
    would be released at 10.0 s: the time is rounded *up* to the next whole second instead,
    and a delayed job never starts before the time it was given.
    """
    if at is not None and delay is not None:
        raise UsageError(
            f"give {at_name} or {delay_name}, not both", f"{at_name} is a time, {delay_name} a duration"
        )
    if at is None and delay is None:
        return None
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if at is not None:
        if not isinstance(at, datetime):
            raise UsageError(f"{at_name} must be a datetime, got {at!r}", f"e.g. {AT_EXAMPLE}")
        if at.tzinfo is None or at.utcoffset() is None:
            raise UsageError(
                f"{at_name} {at.isoformat()} needs a timezone offset, e.g. {AT_EXAMPLE}",
                "add +HH:MM, or Z for UTC",
            )
        when = at.astimezone(UTC)
        if when < now - timedelta(seconds=PAST_GRACE):
            raise UsageError(
                f"{at_name} {at.isoformat()} is in the past (now is {_utc_text(now)})",
                f"pick a future time, or leave {at_name} out to run now",
            )
    else:
        try:
            when = now.astimezone(UTC) + _as_delay(delay, delay_name)
        except OverflowError:
            raise UsageError(
                f"{delay_name} {delay!r} is out of range", "use a delay of at most a few years"
            ) from None
    try:
        return datetime.fromtimestamp(math.ceil(when.timestamp()), UTC)
    except (OverflowError, ValueError, OSError):
        raise UsageError(
            f"{at_name if at is not None else delay_name} is too far in the future",
            "pick a time before the year 9999",
        ) from None


def _utc_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def parse_at(text: str, name: str = "--at") -> datetime:
    """ISO 8601 (`Z` allowed); the offset is checked by scheduled_time, which says how to add one."""
    clean = text.strip()
    if clean[-1:] == "z":
        clean = clean[:-1] + "Z"
    try:
        return datetime.fromisoformat(clean)
    except ValueError:
        raise UsageError(
            f"{name} expects an ISO 8601 time, got {text!r}",
            f"e.g. {name} {AT_EXAMPLE} or {name} 2026-12-01T06:00:00Z",
        ) from None


def parse_when(at: str | None, in_: str | None, now: datetime | None = None) -> datetime | None:
    """The CLI's --at (ISO 8601 with an offset, Z allowed) and --in (90s, 10m, 2h, 1d, 1h30m).

    Returns the aware UTC time the jobs will be scheduled for (see scheduled_time), or None for now.
    """
    if at is not None and in_ is not None:
        raise UsageError("--at and --in cannot be combined", "--at is a time, --in a duration from now")
    when_at = parse_at(at) if at is not None else None
    delay = parse_duration(in_) if in_ is not None else None
    return scheduled_time(when_at, delay, now=now, at_name="--at", delay_name="--in")


def scheduled_for(connection: redis.Redis, job_id: str) -> datetime | None:
    """When a scheduled job is due (aware UTC), as its queue's scheduled registry says; None if not."""
    origin = connection.hget(Job.key_for(job_id), "origin")
    if not origin:
        return None
    registry = ScheduledJobRegistry(decoded(origin), connection=connection, serializer=PayloadSerializer)
    score = connection.zscore(registry.key, job_id)
    return datetime.fromtimestamp(score, UTC) if score is not None else None


def job_data(
    jt: JobType,
    policy: QueuePolicy,
    priority: str,
    payload: dict,
    description: str | None,
    job_id: str | None = None,
    encrypted: bool = False,
    extra_meta: Mapping[str, Any] | None = None,
):
    meta = {**(extra_meta or {}), "type": jt.name, "queue": policy.name, "priority": priority}
    if encrypted and description and description != jt.name:
        # RQ stores the description as plain text: a caller's own words go in the (encrypted) meta
        meta["description"], description = description, None
    return Queue.prepare_data(
        jt.func,
        args=[payload],
        timeout=policy.timeout,
        result_ttl=policy.completed_ttl,
        failure_ttl=policy.failed_ttl,
        description=description or jt.name,  # RQ would otherwise store repr(args), leaking the payload
        meta=meta,
        retry=retry_for(policy),
        job_id=job_id,
    )


def shared_fields(data: EnqueueData, origin: str, serializer=PayloadSerializer) -> dict[str, Any]:
    """The fields of RQ's job hash that every job of one enqueue call shares (all but `data`, the
    retries and the timestamps: see core.bulk), as `Queue.enqueue_many` would store them.

    RQ builds a Job object per job to get here (about 3/4 of enqueue's time); jobctl's jobs use a
    small part of RQ's options (no callbacks, dependencies or repeats), so the hash is written directly.
    The fields RQ writes empty at enqueue (callbacks, started_at, ended_at, last_heartbeat,
    worker_name, group_id) are left out: RQ reads a missing one as empty, and each field is Redis
    time on every job of a million-row campaign.
    """
    fields: dict[str, Any] = {
        "origin": origin,
        "description": data.description,
        "timeout": data.timeout if data.timeout is not None else Queue.DEFAULT_TIMEOUT,
        "status": JobStatus.QUEUED.value,
        "meta": serializer.dumps(data.meta or {}).decode(),
    }
    if data.result_ttl is not None:
        fields["result_ttl"] = data.result_ttl
    if data.failure_ttl is not None:
        fields["failure_ttl"] = data.failure_ttl
    return fields


def await_replicas(connection: redis.Redis, replicas: int) -> int:
    """WAIT until `replicas` replicas hold this connection's writes, at most REPLICA_WAIT_MS; how many did.

    Redis replicates asynchronously: a batch the master acknowledged but had not yet sent on is lost
    if the master dies and a replica is promoted. After WAIT, a failover to a replica that confirmed
    keeps it. Fewer than asked (a replica down or lagging) is logged, not raised: the jobs are queued."""
    confirmed = int(connection.wait(replicas, REPLICA_WAIT_MS))
    if confirmed < replicas:
        log.warning(
            "enqueued, but %d of %d replica(s) confirmed within %d ms (JOBCTL_ENQUEUE_REPLICAS): "
            "a failover now could lose these jobs",
            confirmed,
            replicas,
            REPLICA_WAIT_MS,
        )
    return confirmed


LIVE = (JobStatus.QUEUED.value, JobStatus.SCHEDULED.value, JobStatus.STARTED.value, JobStatus.DEFERRED.value)


def refuse_live_ids(connection: redis.Redis, job_ids: list[str]) -> None:
    """A caller's id that names a job still waiting, scheduled or running is refused: enqueueing it
    again would overwrite that job and put its id on a list twice, where the second entry outlives
    the run as a stale "waiting" job (workers drop it). One round trip, only when ids are given."""
    with connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(Job.key_for(job_id), "status")
        statuses = pipe.execute()
    for job_id, status in zip(job_ids, statuses, strict=True):
        if status is not None and decoded(status) in LIVE:
            raise UsageError(
                f"job id {job_id!r} is taken by a job that is {decoded(status)}",
                "a job id names one job: give another id, or wait until that job has ended",
            )
