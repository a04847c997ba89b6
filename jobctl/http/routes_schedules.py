"""Schedules under /api/jobs: list and one (viewer); create or replace, pause, resume, run now
(operator); remove (admin). Each calls the core function `jobctl schedule ...` calls and returns what
its --json prints; data is shown redacted, as every face shows it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from jobctl.core import schedules
from jobctl.errors import NotFound
from jobctl.http.auth import Admin, Caller, Operator, Viewer
from jobctl.http.common import Ctx, error_responses
from jobctl.http.context import ApiContext
from jobctl.http.models import ScheduleName, ScheduleRequest

SchedulePath = Annotated[ScheduleName, Path(description="Schedule name, e.g. daily-reports.")]
LIST_HINT = "see GET /api/jobs/schedules"

# no prefix of its own: routes.py includes it into its /api/jobs router, before /{job_id} (which
# would otherwise answer GET /api/jobs/schedules)
router = APIRouter()


@contextmanager
def _named_for_http(ctx: ApiContext, name: str) -> Iterator[None]:
    """A NotFound the core raises names the CLI command to list schedules: name the endpoint instead.
    A default not yet seeded keeps its own message and hint (start a scheduler)."""
    try:
        with schedules.stored_only(ctx.connection, ctx.settings, name):
            yield
    except NotFound as exc:
        if exc.hint and "jobctl schedule list" in exc.hint:
            raise NotFound(exc.message, LIST_HINT) from None
        raise


@router.get(
    "/schedules",
    responses=error_responses(403),
    summary="Every schedule, defaults not yet seeded too (jobctl schedule list --json)",
)
def schedule_list(ctx: Ctx, caller: Caller = Viewer) -> dict[str, Any]:
    return {"schedules": schedules.list_schedules(ctx.connection, ctx.settings)}


@router.get(
    "/schedules/{name}",
    responses=error_responses(403, 404),
    summary="One schedule, as its row in GET /schedules (jobctl schedule list --json)",
)
def schedule_show(ctx: Ctx, name: SchedulePath, caller: Caller = Viewer) -> dict[str, Any]:
    """Next runs (UTC and local), last run and its job's status, paused, seeded; data redacted."""
    with _named_for_http(ctx, name):
        return schedules.schedule_row(ctx.connection, ctx.settings, name)


@router.post(
    "/schedule",
    summary="Create a recurring schedule, or replace one's definition (operator)",
    responses={**error_responses(400, 403), 201: {"description": "Created"}},
)
def put_schedule(
    ctx: Ctx, body: ScheduleRequest, response: Response, caller: Caller = Operator
) -> dict[str, Any]:
    with caller.acting():
        doc = schedules.put_schedule(
            ctx.connection,
            ctx.settings,
            body.name,
            body.cron,
            body.tz,
            body.job,
            body.data,
            body.queue,
            body.priority,
            body.missed,
        )
    response.status_code = 201 if doc["created"] else 200
    return doc


@router.post(
    "/schedules/{name}/pause",
    summary="Stop running a schedule until resumed (operator; jobctl schedule pause --json)",
    responses=error_responses(403, 404),
)
def schedule_pause(ctx: Ctx, name: SchedulePath, caller: Caller = Operator) -> dict[str, Any]:
    """The schedule with `changed` (false when it was already paused)."""
    with _named_for_http(ctx, name), caller.acting():
        return schedules.pause_schedule(ctx.connection, name)


@router.post(
    "/schedules/{name}/resume",
    summary="Run a paused schedule again from its next occurrence (operator; jobctl schedule resume --json)",
    responses=error_responses(403, 404),
)
def schedule_resume(ctx: Ctx, name: SchedulePath, caller: Caller = Operator) -> dict[str, Any]:
    """The schedule with `changed` (false when it was not paused); what passed while paused is not
    caught up."""
    with _named_for_http(ctx, name), caller.acting():
        return schedules.resume_schedule(ctx.connection, name)


@router.post(
    "/schedules/{name}/run",
    summary="Enqueue the schedule's job now; its regular runs are unaffected (operator; jobctl schedule run)",
    responses={**error_responses(400, 403, 404), 201: {"description": "Queued"}},
    status_code=201,
)
def schedule_run(ctx: Ctx, name: SchedulePath, caller: Caller = Operator) -> dict[str, Any]:
    """`{"schedule", "job_id"}`; 400 when the schedule's job type has no handler yet."""
    with _named_for_http(ctx, name), caller.acting():
        job_id = schedules.run_now(ctx.connection, ctx.settings, name)
    return {"schedule": name, "job_id": job_id}


@router.delete(
    "/schedules/{name}",
    summary="Remove a schedule; a default not yet seeded is then never seeded (admin)",
    responses=error_responses(403, 404),
)
def schedule_remove(ctx: Ctx, name: SchedulePath, caller: Caller = Admin) -> dict[str, Any]:
    """Jobs the schedule already enqueued are not touched (jobctl schedule remove --json)."""
    try:
        with caller.acting():
            doc = schedules.remove_schedule(ctx.connection, name, ctx.settings)
    except NotFound as exc:  # the core's hint names the CLI command
        raise NotFound(exc.message, LIST_HINT) from None
    return {"removed": name, "schedule": doc}
