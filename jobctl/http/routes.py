"""The endpoints: each checks the caller's role, calls the same core function as the CLI command and
returns what that command's --json prints. Mutations run as the token's actor (face "http")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from jobctl.core import dlq, ops, submit
from jobctl.core.browse import job_detail, queue_jobs
from jobctl.core.catalog import get_policy, queue_catalog
from jobctl.core.enqueue import parse_when, scheduled_for
from jobctl.core.jobtypes import offered
from jobctl.core.prometheus import CONTENT_TYPE, render
from jobctl.core.search import MAX_SCAN_LIMIT, SCAN_LIMIT, search_jobs
from jobctl.core.stats import list_workers, parse_window, queue_stats, stats_with_window
from jobctl.errors import NotFound, UsageError
from jobctl.http import routes_alerts as alert_routes
from jobctl.http import routes_audit as audit_routes
from jobctl.http import routes_schedules as schedule_routes
from jobctl.http.auth import Admin, Caller, Operator, Viewer
from jobctl.http.common import Ctx
from jobctl.http.common import error_responses as _errors
from jobctl.http.context import ApiContext
from jobctl.http.errors import Conflict
from jobctl.http.models import (
    MAX_IDS,
    MAX_PAGE,
    ClearState,
    Duration,
    EnqueueRequest,
    Fingerprint,
    JobId,
    JobState,
    JobType,
    Priority,
    QueueName,
    RetryRequest,
    SearchState,
)

QueuePath = Annotated[QueueName, Path(alias="queueName", description="Queue name, e.g. email-sending.")]
FingerprintQuery = Annotated[
    Fingerprint | None, Query(description="Only entries of this error group (an id from GET /dlq/groups).")
]
JobPath = Annotated[JobId, Path(description="Job id.")]

router = APIRouter(prefix="/api/jobs")


# --- reads (viewer) ------------------------------------------------------------------------------


@router.get(
    "/stats", summary="Counts per queue and priority (jobctl stats --json)", responses=_errors(400, 403, 404)
)
def stats(
    ctx: Ctx,
    caller: Caller = Viewer,
    queue: QueueName | None = None,
    window: Annotated[
        Duration | None, Query(description="Also the metrics of the last 15m, 1h, 24h, 7d (up to 30d).")
    ] = None,
) -> dict[str, Any]:
    return stats_with_window(ctx.connection, ctx.settings, queue, parse_window(window, "window"))


@router.get(
    "/queues/{queueName}",
    summary="A queue's policy, counts and one page of its jobs in one state",
    responses=_errors(400, 403, 404),
)
def queue_detail(
    ctx: Ctx,
    queue_name: QueuePath,
    caller: Caller = Viewer,
    state: Annotated[
        JobState | None, Query(description="Default waiting; for dead-letter failed (its entries).")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
) -> dict[str, Any]:
    policy = get_policy(queue_catalog(ctx.settings), queue_name)
    [counts] = queue_stats(ctx.connection, ctx.settings, policy.name)["queues"]
    return {
        "queue": policy.name,
        "policy": policy.describe(),
        "paused": policy.name in ops.paused_queues(ctx.connection),
        "workers": counts["workers"],
        "totals": counts["totals"],
        "priorities": counts["priorities"],
        "page": queue_jobs(ctx.connection, ctx.settings, policy.name, state, offset, limit),
    }


@router.get(
    "/workers",
    summary="Registered workers, each with `alive` (jobctl worker list --json)",
    responses=_errors(403),
)
def workers(ctx: Ctx, caller: Caller = Viewer) -> dict[str, Any]:
    return {"workers": list_workers(ctx.connection, ctx.settings)}


@router.get(
    "/dlq",
    summary="Dead-letter entries, newest first, paged (jobctl dlq list --json)",
    responses=_errors(400, 403, 404),
)
def dlq_list(
    ctx: Ctx,
    caller: Caller = Viewer,
    queue: QueueName | None = None,
    since: Duration | None = None,
    error_contains: Annotated[str | None, Query(max_length=500)] = None,
    fingerprint: FingerprintQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=20, description="next_cursor of the previous page")
    ] = None,
) -> dict[str, Any]:
    dlq.parse_since(since, "since")  # a bad one is named as this parameter, not as the CLI's --since
    return dlq.list_entries(
        ctx.connection,
        ctx.settings,
        queue=queue,
        since=since,
        error_contains=error_contains,
        fingerprint=fingerprint,
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/dlq/groups",
    summary="Dead-letter entries grouped by error fingerprint, biggest first (jobctl dlq groups --json)",
    responses=_errors(400, 403, 404),
)
def dlq_groups(
    ctx: Ctx,
    caller: Caller = Viewer,
    queue: Annotated[QueueName | None, Query(description="Only groups with entries from this queue.")] = None,
    since: Annotated[
        Duration | None, Query(description="Count only entries that died within this long, e.g. 1h.")
    ] = None,
) -> dict[str, Any]:
    """One row per fingerprint: id (the `fingerprint` filter of GET/DELETE /dlq and POST /retry),
    fingerprint text, the newest entry's whole error, count, first/last seen, counts per queue and
    type. Costs O(groups), not O(entries)."""
    dlq.parse_since(since, "since")
    return dlq.groups(ctx.connection, ctx.settings, queue=queue, since=since)


@router.get(
    "/dlq/{job_id}",
    summary="One dead-letter entry in full, personal data redacted (jobctl dlq show --json)",
    responses=_errors(403, 404),
)
def dlq_show(ctx: Ctx, job_id: JobPath, caller: Caller = Viewer) -> dict[str, Any]:
    """Payload, every attempt, the last traceback, replays. Declared after /dlq/groups, which it
    would otherwise answer. Redacted for every role, as GET /{job_id} is: the API has no reveal."""
    try:
        return dlq.get_entry(ctx.connection, job_id)
    except NotFound as exc:  # the core's hint names the CLI command
        raise NotFound(exc.message, "see GET /api/jobs/dlq") from None


# every schedule route, /api/jobs/schedules among them: included before /{job_id} is declared
router.include_router(schedule_routes.router)


# --- changes ----------------------------------------------------------------------------------------


@router.delete(
    "/queues/{queueName}",
    summary="Clear a queue's jobs in one state, or all (admin)",
    responses=_errors(400, 403, 404),
)
def clear_queue(
    ctx: Ctx,
    queue_name: QueuePath,
    caller: Caller = Admin,
    state: ClearState = "waiting",
    priority: Priority | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    with caller.acting():
        return ops.clear_queue(ctx.connection, ctx.settings, queue_name, state, priority, dry_run=dry_run)


@router.post(
    "/queues/{queueName}/pause",
    summary="Workers stop taking this queue's jobs (operator)",
    responses=_errors(400, 403, 404),
)
def pause_queue(ctx: Ctx, queue_name: QueuePath, caller: Caller = Operator) -> dict[str, Any]:
    with caller.acting():
        return ops.pause_queue(ctx.connection, ctx.settings, queue_name)


@router.post(
    "/queues/{queueName}/resume",
    summary="Workers take this queue's jobs again (operator)",
    responses=_errors(400, 403, 404),
)
def resume_queue(ctx: Ctx, queue_name: QueuePath, caller: Caller = Operator) -> dict[str, Any]:
    with caller.acting():
        return ops.resume_queue(ctx.connection, ctx.settings, queue_name)


@router.post(
    "/retry",
    summary="Retry failed jobs and replay dead-lettered ones (operator)",
    responses=_errors(400, 403, 404, 409),
)
def retry(ctx: Ctx, body: RetryRequest, caller: Caller = Operator) -> dict[str, Any]:
    """`job_ids`: like `jobctl retry`, 200 with each id's outcome (`results`), ids not acted on in
    `not_found` and `refused`. `{"queueName", "jobId"}`: that one job; 404 when it is not in that queue,
    409 when its state refuses a retry. `dlq`: only dead-lettered jobs, like `jobctl dlq retry`."""
    with caller.acting():
        if body.job_id is not None:
            return _retry_one(ctx, body.queue_name, body.job_id)
        if not body.dlq:
            return ops.retry_jobs(ctx.connection, ctx.settings, body.job_ids or [])
        return dlq.replay(
            ctx.connection,
            ctx.settings,
            body.job_ids,
            everything=body.all,
            queue=body.queue,
            since=body.since,
            error_contains=body.error_contains,
            fingerprint=body.fingerprint,
        )


@router.get("/types", summary="Job types and the fields each one's data takes", responses=_errors(403))
def job_types(ctx: Ctx, caller: Caller = Viewer) -> dict[str, Any]:
    return {"types": [submit.describe_type(name) for name in offered(ctx.settings)]}


@router.post(
    "",
    summary="Enqueue one job of any type, now or later (operator)",
    responses={**_errors(400, 403, 404), 201: {"description": "Queued"}},
    status_code=201,
)
def enqueue_job(ctx: Ctx, body: EnqueueRequest, caller: Caller = Operator) -> dict[str, Any]:
    when = parse_when(body.at, body.in_)
    with caller.acting():
        job_id = submit.submit(
            ctx.connection,
            ctx.settings,
            body.job,
            body.data,
            queue=body.queue,
            priority=body.priority,
            at=when,
        )
    due = scheduled_for(ctx.connection, job_id) if when else None
    return {"job_id": job_id, "scheduled_for": due.isoformat() if due else None}


def _retry_one(ctx: ApiContext, queue: str, job_id: str) -> dict[str, Any]:
    result = ops.retry_jobs(ctx.connection, ctx.settings, [job_id], queue=queue)
    [one] = result["results"]
    if one["outcome"] == "not_found":
        raise NotFound(
            one["reason"], "see GET /api/jobs/queues/{queueName}?state=failed and GET /api/jobs/dlq"
        )
    if one["outcome"] == "refused":
        raise Conflict(
            f"job {job_id} was not retried: {one['reason']}",
            "only failed and dead-lettered jobs are retried; see GET /api/jobs/" + job_id,
        )
    return result


@router.delete(
    "/dlq",
    summary="Purge dead-letter entries by id, or all matching (admin)",
    responses=_errors(400, 403, 404),
)
def dlq_purge(
    ctx: Ctx,
    caller: Caller = Admin,
    job_ids: Annotated[
        list[JobId] | None, Query(max_length=MAX_IDS, description="Repeat for each id.")
    ] = None,
    everything: Annotated[bool, Query(alias="all", description="Every entry matching the filters.")] = False,
    queue: QueueName | None = None,
    since: Duration | None = None,
    error_contains: Annotated[str | None, Query(max_length=500)] = None,
    fingerprint: FingerprintQuery = None,
) -> dict[str, Any]:
    if bool(job_ids) == everything:
        raise UsageError(
            "give exactly one selection: job_ids, or all=true",
            "e.g. DELETE /api/jobs/dlq?all=true&queue=email-sending",
        )
    if job_ids and (queue or since or error_contains or fingerprint):
        raise UsageError(
            "queue, since, error_contains and fingerprint narrow all=true, not job_ids",
            "drop them, or use all=true",
        )
    with caller.acting():
        return dlq.purge(
            ctx.connection,
            ctx.settings,
            job_ids,
            everything=everything,
            queue=queue,
            since=since,
            error_contains=error_contains,
            fingerprint=fingerprint,
        )


@router.get(
    "/search",
    summary="Find jobs by id, type or recipient in every queue and state (jobctl job search --json)",
    responses=_errors(400, 403, 404),
)
def job_search(
    ctx: Ctx,
    caller: Caller = Viewer,
    job_id: Annotated[
        JobId | None, Query(alias="id", description="A job id: one lookup, any queue and state.")
    ] = None,
    job_type: Annotated[JobType | None, Query(alias="type", description="A job type.")] = None,
    recipient: Annotated[
        str | None,
        Query(
            max_length=320,
            description="Email jobs to this address (any case); part of one (@example.com) matches as text.",
        ),
    ] = None,
    queue: QueueName | None = None,
    state: Annotated[
        SearchState | None, Query(description="Only jobs in this state (dead: dead-lettered).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Stop after this many matches.")] = 50,
    scan_limit: Annotated[
        int, Query(ge=1, le=MAX_SCAN_LIMIT, description="Type/recipient: examine at most this many jobs.")
    ] = SCAN_LIMIT,
) -> dict[str, Any]:
    found = search_jobs(
        ctx.connection,
        ctx.settings,
        job_id=job_id,
        job_type=job_type,
        recipient=recipient,
        queue=queue,
        state=state,
        limit=limit,
        scan_limit=scan_limit,
    )
    if job_id is not None and not found["jobs"]:  # as `jobctl job search --id` (exit 4)
        where = " matching those filters" if found["total"] else ""
        raise NotFound(f"no job {job_id!r}{where}", "it may have been trimmed by keep-completed/keep-failed")
    return found


# --- one job (declared last: /{job_id} would otherwise swallow /stats, /workers and /dlq) -----------


@router.get("/{job_id}", summary="One job in full (jobctl job show --json)", responses=_errors(403, 404))
def job_show(ctx: Ctx, job_id: JobPath, caller: Caller = Viewer) -> dict[str, Any]:
    return job_detail(ctx.connection, ctx.settings, job_id)


@router.delete(
    "/{job_id}",
    summary="Delete a job and its data; never a running or dead-lettered one (admin)",
    responses=_errors(403, 404, 409),
)
def job_delete(ctx: Ctx, job_id: JobPath, caller: Caller = Admin) -> dict[str, Any]:
    with caller.acting():
        result = ops.delete_jobs(ctx.connection, ctx.settings, [job_id])
    if result["not_found"]:
        raise NotFound(f"no job {job_id!r}", "see GET /api/jobs/queues/{queueName}")
    if result["refused"]:
        raise Conflict(
            f"job {job_id} was not deleted: {result['refused'][0]['reason']}",
            "dead-lettered jobs: DELETE /api/jobs/dlq?job_ids=ID; running ones: "
            "POST /api/jobs/ID/cancel first",
        )
    return result


@router.post(
    "/{job_id}/cancel",
    summary="Cancel a waiting or scheduled job; ask a running one to stop (operator)",
    responses=_errors(400, 403, 404, 409),
)
def job_cancel(ctx: Ctx, job_id: JobPath, caller: Caller = Operator) -> dict[str, Any]:
    with caller.acting():
        return ops.cancel_job(ctx.connection, ctx.settings, job_id)


# --- outside /api/jobs ----------------------------------------------------------------------------

metrics_router = APIRouter()  # every route outside /api/jobs: app.py includes this one router
metrics_router.include_router(audit_routes.router)
metrics_router.include_router(alert_routes.router)


@metrics_router.get(
    "/metrics",
    summary="Prometheus text format (jobctl metrics)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {}}}, **_errors(403)},
)
def metrics(ctx: Ctx, caller: Caller = Viewer) -> Response:
    return Response(render(ctx.connection, ctx.settings), media_type=CONTENT_TYPE)
