"""The one road a job takes onto a queue: fields -> the type's contract -> payload -> enqueue.

Every way in uses it: the Python API (and the CLI's enqueue commands through it), HTTP, schedules
when stored (`prepare`, to refuse data that could never run) and when they fire, and jobs that
queue other jobs (a report's email, a payment's receipt). DLQ replay and retry re-check a stored
payload with `check_stored` before it goes back on a queue.

The connection and settings are passed in, never read from a process global here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import redis

from jobctl.config import Settings
from jobctl.core.bulk import Build, BulkResult, enqueue_rows
from jobctl.core.contracts import BuildContext, Contract, normalize, split_scheduler_keys
from jobctl.core.enqueue import check_target, scheduled_time
from jobctl.core.jobtypes import get_job_type
from jobctl.core.progress import Progress
from jobctl.errors import ConfigError, InvalidPayload, UsageError


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
    total: int | None = None,
) -> list[str]:
    """`submit_rows`, returning the ids as a list (what callers that queue a few jobs want)."""
    return list(
        submit_rows(
            connection,
            settings,
            job_type,
            many_fields,
            priority=priority,
            queue=queue,
            at=at,
            delay=delay,
            job_ids=job_ids,
            description=description,
            meta=meta,
            occurrence=occurrence,
            on_progress=on_progress,
            total=total,
        ).ids
    )


def submit_rows(
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
    locate: Callable[[int], str] | None = None,
    total: int | None = None,
) -> BulkResult:
    """Every row validated by the type's contract first (nothing is queued if one is bad, or if
    there are more than JOBCTL_MAX_BATCH), then queued in atomic batches; see jobctl.core.bulk.

    `many_fields` is read once, as a stream (a million-row CSV stays out of memory).
    `on_progress(done, total, stage)` counts both phases, "validating" then "enqueueing".
    `locate(n)` names row n in an error message (a CSV's line); `total` is the row count when
    `many_fields` cannot say (a generator), for progress."""
    when = scheduled_time(at, delay)  # a bad time, queue or priority fails before any payload is built
    check_target(settings, job_type, queue, priority)
    contract = contract_for(job_type)
    result = enqueue_rows(
        connection,
        settings,
        job_type,
        many_fields,
        row_builder(contract, settings, BuildContext(occurrence)),
        describe=contract.describe,
        priority=priority,
        queue=queue,
        description=description,
        when=when,
        job_ids=job_ids,
        meta=meta,
        on_progress=on_progress,
        locate=locate,
        total=total,
    )
    if not result.count:
        raise UsageError(f"no {job_type} jobs given", "pass at least one")
    return result


def row_builder(contract: Contract, settings: Settings, context: BuildContext) -> Build:
    """fields -> payload for the rows of one call: the first row by the contract's build, the rest
    by its bulk builder when it has one (email checks a template once per call, not once per row;
    setting that up costs more than one build, so a single job never pays for it). Either way a
    caller's bad data comes out as InvalidPayload."""
    bulk: list[Build] = []
    rows = [0]

    def one(fields: Mapping[str, Any] | None) -> dict[str, Any]:
        rows[0] += 1
        try:
            if rows[0] > 1 and contract.bulk is not None:
                if not bulk:
                    bulk.append(contract.bulk(settings, context))
                return bulk[0](fields)
            return contract.build(settings, normalize(contract, fields), context)
        except (InvalidPayload, ConfigError):  # a setting of this deployment, not the caller's data
            raise
        except UsageError as exc:
            raise InvalidPayload(exc.message, exc.hint) from None

    return one


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
