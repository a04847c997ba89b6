"""The one road a job takes onto a queue: fields -> the type's contract -> payload -> enqueue.

Every way in uses it: the Python API (and the CLI's enqueue commands through it), HTTP, schedules
when stored (`prepare`, to refuse data that could never run) and when they fire, and jobs that
queue other jobs (a report's email, a payment's receipt). DLQ replay and retry re-check a stored
payload with `check_stored` before it goes back on a queue.

The connection and settings are passed in, never read from a process global here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import redis

from jobctl.config import Settings
from jobctl.core.contracts import BuildContext, Contract, normalize, split_scheduler_keys
from jobctl.core.enqueue import check_target, enqueue_many, scheduled_time
from jobctl.core.jobtypes import get_job_type
from jobctl.core.limits import capped
from jobctl.core.progress import Progress, ignore
from jobctl.errors import ConfigError, InvalidPayload, UsageError

VALIDATE_STEP = 100  # rows between two progress reports while validating (an email row takes ~1 ms)


def contract_for(job_type: str) -> Contract:
    return get_job_type(job_type).load_contract()


def prepare(
    settings: Settings, job_type: str, fields: Mapping[str, Any] | None, *, occurrence: datetime | None = None
) -> dict[str, Any]:
    """The payload `fields` make for `job_type`, fully validated (UsageError/NotFound naming the field)."""
    contract = contract_for(job_type)
    return _built(contract, settings, fields, BuildContext(occurrence))


def normalized(job_type: str, fields: Mapping[str, Any] | None) -> dict[str, Any]:
    """`fields` read by the type's contract (text to each field's kind), as a schedule stores them."""
    try:
        return normalize(contract_for(job_type), fields)
    except (InvalidPayload, ConfigError):  # a setting of this deployment, not the caller's data
        raise
    except UsageError as exc:
        raise InvalidPayload(exc.message, exc.hint) from None


def _built(
    contract: Contract, settings: Settings, fields: Mapping[str, Any] | None, context: BuildContext
) -> dict[str, Any]:
    try:
        return contract.build(settings, normalize(contract, fields), context)
    except (InvalidPayload, ConfigError):  # a setting of this deployment, not the caller's data
        raise
    except UsageError as exc:  # whatever part of the contract refused it, the caller sent bad job data
        raise InvalidPayload(exc.message, exc.hint) from None


def submit(
    connection: redis.Redis,
    settings: Settings,
    job_type: str,
    fields: Mapping[str, Any] | None,
    *,
    priority: str | None = None,
    queue: str | None = None,
    at: datetime | None = None,
    delay: timedelta | float | None = None,
    job_id: str | None = None,
    description: str | None = None,
    meta: Mapping[str, Any] | None = None,
    occurrence: datetime | None = None,
) -> str:
    """Validate `fields` with the type's contract and queue one job (or schedule it: `at`/`delay`);
    returns its id. Scheduler facts and other run context go in `meta`, never in the payload."""
    return submit_many(
        connection,
        settings,
        job_type,
        [fields],
        priority=priority,
        queue=queue,
        at=at,
        delay=delay,
        job_ids=[job_id] if job_id else None,
        description=description,
        meta=meta,
        occurrence=occurrence,
    )[0]


def submit_many(
    connection: redis.Redis,
    settings: Settings,
    job_type: str,
    many_fields: Iterable[Mapping[str, Any] | None],
    *,
    priority: str | None = None,
    queue: str | None = None,
    at: datetime | None = None,
    delay: timedelta | float | None = None,
    job_ids: list[str] | None = None,
    description: str | None = None,
    meta: Mapping[str, Any] | None = None,
    occurrence: datetime | None = None,
    on_progress: Progress | None = None,
) -> list[str]:
    """Every job validated first (nothing is queued if one is bad, or if there are more than
    JOBCTL_MAX_BATCH), then queued in atomic batches.

    `on_progress(done, total, stage)` counts both phases: "validating" (every VALIDATE_STEP rows)
    then "enqueueing" (every batch), each from 0 to the number of jobs."""
    when = scheduled_time(at, delay)  # a bad time, queue or priority fails before any payload is built
    check_target(settings, job_type, queue, priority)
    contract = contract_for(job_type)
    context = BuildContext(occurrence)
    many = capped(settings, many_fields, job_type)
    report = on_progress or ignore
    payloads = []
    for n, fields in enumerate(many):
        if n % VALIDATE_STEP == 0:
            report(n, len(many), "validating")
        payloads.append(_built(contract, settings, fields, context))
    report(len(payloads), len(many), "validating")
    if not payloads:
        raise UsageError(f"no {job_type} jobs given", "pass at least one")
    if description is None:
        first = contract.describe(payloads[0])
        description = first if len(payloads) == 1 or contract.describe(payloads[-1]) == first else job_type
    return enqueue_many(
        connection,
        settings,
        job_type,
        payloads,
        priority=priority,
        queue=queue,
        description=description,
        job_ids=job_ids,
        when=when,
        meta=meta,
        on_progress=on_progress,
    )


def check_stored(job_type: str, payload: Any) -> tuple[Any, dict[str, Any]]:
    """A stored payload (a dead-letter entry's, a failed job's) checked as the worker will read it,
    before it is queued again: (payload without scheduler keys, those keys for the job's meta).
    UsageError says why it could never run."""
    payload, facts = split_scheduler_keys(payload)
    try:
        contract_for(job_type).load(payload)
    except (InvalidPayload, ConfigError):
        raise
    except UsageError as exc:
        raise InvalidPayload(exc.message, exc.hint) from None
    return payload, facts


def describe_type(job_type: str) -> dict[str, Any]:
    """A job type as `jobctl job types --json` and GET /api/jobs/types show it: queue and fields."""
    jt = get_job_type(job_type)
    contract = jt.load_contract()
    return {
        "type": jt.name,
        "queue": jt.queue,
        "summary": jt.summary,
        "fields": [
            {"name": f.name, "kind": f.kind, "required": f.required, "doc": f.doc} for f in contract.fields
        ],
        "other_keys": {None: None, "*": "kept as given"}.get(contract.extra, f"go into {contract.extra}"),
    }
