"""Looking inside queues and jobs: paged job lists per state, and one job in full.

What these return goes to people (CLI, dashboard, HTTP API): job content is redacted (see
jobctl.core.redact) unless the caller passes `reveal=True`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import redis
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job

from jobctl.config import Settings
from jobctl.core import attempts, dlq, keyspace, payloads
from jobctl.core.catalog import PRIORITIES, QueuePolicy, get_policy, queue_catalog, split_physical
from jobctl.core.connection import decoded_members
from jobctl.core.jobtypes import FUNC_TO_TYPE
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.redact import redact_fields
from jobctl.core.stats import STATES, queue_key, registry_key
from jobctl.errors import NotFound, UsageError

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _status(job: Job) -> str:
    status = job.get_status(refresh=False)
    return getattr(status, "value", status) or "unknown"


def _type(job: Job) -> str | None:
    if job.meta.get("type"):
        return job.meta["type"]
    try:
        return FUNC_TO_TYPE.get(job.func_name, job.func_name)
    except DeserializationError as exc:  # listed all the same: one such job must not hide a page
        return "(encrypted)" if isinstance(exc.__cause__, payloads.EncryptedData) else "(unreadable)"


def _summary(job: Job) -> dict[str, Any]:
    queue, priority = split_physical(job.origin or "")
    return {
        "id": job.id,
        "type": _type(job),
        "queue": job.meta.get("queue", queue),
        "priority": job.meta.get("priority", priority),
        "status": _status(job),
        # with encryption on, a caller's own description lives in the encrypted meta (see enqueue)
        "description": job.meta.get("description") or job.description,
        "created_at": _iso(job.created_at),
        "enqueued_at": _iso(job.enqueued_at),
        "started_at": _iso(job.started_at),
        "ended_at": _iso(job.ended_at),
    }


def _ids_in(connection: redis.Redis, state: str, physical: str, start: int, stop: int) -> list[str]:
    if state == "waiting":
        return decoded_members(connection.lrange(queue_key(physical), start, stop))
    # newest first for finished/failed; soonest first for scheduled
    reverse = state in ("completed", "failed", "active")
    fetch = connection.zrevrange if reverse else connection.zrange
    return decoded_members(fetch(registry_key(state, physical), start, stop))


def _count(connection: redis.Redis, state: str, physical: str) -> int:
    return (
        connection.llen(queue_key(physical))
        if state == "waiting"
        else connection.zcard(registry_key(state, physical))
    )


def default_state(queue: str, settings: Settings) -> str:
    """What a queue view shows unless told: waiting jobs; for the dead-letter queue its entries (failed)."""
    return "failed" if get_policy(queue_catalog(settings), queue).is_dead_letter else "waiting"


def _dead_letter_ids(connection: redis.Redis, state: str, offset: int, limit: int) -> tuple[int, list[str]]:
    """The dead-letter queue holds only failed jobs: its entries, newest first as `jobctl dlq list`
    has them."""
    if state != "failed":
        return 0, []
    with connection.pipeline(transaction=False) as pipe:
        pipe.zcard(keyspace.dlq_index())
        pipe.zrevrange(keyspace.dlq_index(), offset, offset + limit - 1)
        total, raw = pipe.execute()
    return int(total), [r.decode() for r in raw]


def _dead_letter_row(connection: redis.Redis, job_id: str) -> dict[str, Any] | None:
    """A dead job whose RQ hash is gone, shown from its entry (which has all a listing needs)."""
    entry = dlq.read_entry(connection, job_id)
    if entry is None:
        return None  # replayed or purged since the index was read
    return {
        "id": job_id,
        "type": entry.get("type"),
        "queue": entry.get("queue"),
        "priority": entry.get("priority"),
        "status": "failed",
        "description": None,
        "created_at": entry.get("first_enqueued_at"),
        "enqueued_at": None,
        "started_at": None,
        "ended_at": entry.get("died_at"),
    }


def _priority_page(
    connection: redis.Redis, policy: QueuePolicy, state: str, offset: int, limit: int
) -> tuple[int, list[str]]:
    """(total, one page of ids) across a queue's priorities, high first."""
    ids: list[str] = []
    skip, want, total = offset, limit, 0
    for prio in PRIORITIES:
        physical = policy.physical(prio)
        count = _count(connection, state, physical)
        total += count
        if want and skip < count:
            page = _ids_in(connection, state, physical, skip, skip + want - 1)
            ids.extend(page)
            want -= len(page)
            skip = 0
        else:
            skip = max(0, skip - count)
    return total, ids


def queue_jobs(
    connection: redis.Redis,
    settings: Settings,
    queue: str,
    state: str | None = None,
    offset: int = 0,
    limit: int = 20,
    *,
    reveal: bool = False,
) -> dict[str, Any]:
    """One page of a queue's jobs in one state (default: `default_state`), high priority first.
    Costs O(limit), not O(queue). Descriptions are redacted unless `reveal`. The dead-letter
    queue's failed jobs are its entries (each job's `queue` is the one it died on)."""
    policy = get_policy(queue_catalog(settings), queue)
    state = state or default_state(policy.name, settings)
    if state not in STATES:
        raise UsageError(f"unknown state {state!r}", f"use one of {', '.join(STATES)}")
    if offset < 0 or limit < 1:
        raise UsageError("offset must be >= 0 and limit >= 1", "e.g. --offset 0 --limit 20")
    if policy.is_dead_letter:
        total, ids = _dead_letter_ids(connection, state, offset, limit)
    else:
        total, ids = _priority_page(connection, policy, state, offset, limit)
    rows = job_rows(connection, settings, ids, from_dead_letters=policy.is_dead_letter)
    if state == "scheduled":
        add_run_times(connection, rows)
    next_offset = offset + len(ids) if offset + len(ids) < total else None
    return {
        "queue": policy.name,
        "state": state,
        "offset": offset,
        "limit": limit,
        "total": total,
        "next_offset": next_offset,
        "jobs": [r if reveal else redact_fields(r, ("description",)) for r in rows],
    }


def job_rows(
    connection: redis.Redis, settings: Settings, ids: list[str], *, from_dead_letters: bool = False
) -> list[dict[str, Any]]:
    """The listing rows (summary + attempts) of `ids`, in order, unredacted; ids whose job is gone are
    left out, unless `from_dead_letters`: then a dead job's row comes from its entry. Three round trips."""
    found = Job.fetch_many(ids, connection=connection, serializer=PayloadSerializer)
    present = [j for j in found if j is not None]
    crashes = dict(zip([j.id for j in present], _abandoned(connection, present), strict=True))
    rows = []
    row: dict[str, Any] | None
    for job_id, job in zip(ids, found, strict=True):
        if job is not None:
            row = _summary(job)
            row["attempts"] = attempts.progress(
                job, row["status"], _allowed(settings, row["queue"]), crashes[job.id]
            )
        elif from_dead_letters:  # the entry outlived its job's data: the row comes from the entry
            row = _dead_letter_row(connection, job_id)
        else:
            row = None
        if row is not None:
            rows.append(row)
    return rows


def add_run_times(connection: redis.Redis, rows: list[dict[str, Any]]) -> None:
    """`runs_at` on scheduled rows: the scheduled registry's score (when the job is due), one round trip.
    Its `enqueued_at` is when it was put off, not when it runs."""
    with connection.pipeline(transaction=False) as pipe:
        for row in rows:
            pipe.hget(Job.key_for(row["id"]), "origin")
        origins = pipe.execute()
    with connection.pipeline(transaction=False) as pipe:
        for row, origin in zip(rows, origins, strict=True):
            pipe.zscore(registry_key("scheduled", origin.decode() if origin else ""), row["id"])
        scores = pipe.execute()
    for row, score in zip(rows, scores, strict=True):
        row["runs_at"] = _epoch_iso(score)


def _epoch_iso(score: float | None) -> str | None:
    return datetime.fromtimestamp(score, UTC).isoformat() if score is not None else None


def _abandoned(connection: redis.Redis, jobs: list[Job]) -> list[bytes | None]:
    """Each job's crashes noted by a lease reclaim but not yet folded into its attempts (one round trip)."""
    with connection.pipeline(transaction=False) as pipe:
        for job in jobs:
            pipe.hget(job.key, "jobctl_abandoned")
        return pipe.execute()


def _allowed(settings: Settings, queue: str | None) -> int | None:
    policy = queue_catalog(settings).get(queue) if queue else None
    return policy.attempts if policy else None


def fetch_job(connection: redis.Redis, job_id: str) -> Job:
    if not JOB_ID.match(job_id):
        raise UsageError(f"invalid job id {job_id!r}", "job ids are letters, digits, '_' and '-'")
    try:
        return Job.fetch(job_id, connection=connection, serializer=PayloadSerializer)
    except NoSuchJobError:
        raise NotFound(
            f"no job {job_id!r}",
            "it may have been trimmed by keep-completed/keep-failed; see `jobctl queue show`",
        ) from None


SHOWN_FIELDS = ("description", "payload", "attempts", "result", "error")  # redacted unless revealed


def job_detail(
    connection: redis.Redis, settings: Settings, job_id: str, *, reveal: bool = False
) -> dict[str, Any]:
    """One job in full: payload, attempts, result or error. EncryptedData when no key opens it."""
    job = fetch_job(connection, job_id)
    payloads.check_readable(job)
    detail = _summary(job)
    progress = attempts.progress(
        job,
        detail["status"],
        _allowed(settings, detail["queue"]),
        connection.hget(job.key, "jobctl_abandoned"),
    )
    if detail["status"] == "scheduled":  # enqueued_at is when it was put off: say when it runs
        detail["runs_at"] = _epoch_iso(connection.zscore(registry_key("scheduled", job.origin or ""), job.id))
    latest = job.latest_result()
    error = None
    result = None
    if latest is not None:
        kind = getattr(latest.type, "name", str(latest.type)).lower()
        if kind == "successful":
            result = latest.return_value
        elif latest.exc_string:
            error = payloads.open_text(latest.exc_string)
    detail.update(
        {
            "payload": job.args[0] if job.args else None,
            "attempts": {**progress, "history": job.meta.get("attempts", [])},
            "replays": job.meta.get("replays", []),
            "timeout": job.timeout,
            "worker": job.worker_name,
            "result": result,
            "error": error,
        }
    )
    return detail if reveal else redact_fields(detail, SHOWN_FIELDS)
