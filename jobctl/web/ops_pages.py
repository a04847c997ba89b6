"""The dashboard's schedules, alerts and audit pages, over the calls `jobctl schedule list`,
`jobctl alerts list|history` and `jobctl audit list` make.

Roles as in the API (jobctl/http/routes_schedules.py, routes_alerts.py, routes_audit.py): a viewer
sees schedules and alerts; an operator pauses, resumes and runs a schedule now, and reads the audit
log; an admin removes a schedule, after a confirmation page where the schedule's name is typed.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from jobctl.core import alert_rules, alerts, audit, schedules
from jobctl.core.jobtypes import offered
from jobctl.durations import format_seconds
from jobctl.errors import JobctlError, UsageError
from jobctl.web.common import BASE, Refused, context, read_form, render, run_action, status_of, who

router = APIRouter(include_in_schema=False)

HISTORY_SHOWN = 50  # alert transitions on the alerts page
AUDIT_PAGE = 50  # audit entries per page
AUDIT_FILTERS = ("since", "actor", "action", "face", "type")


def _schedule_url(name: str) -> str:
    return f"{BASE}/schedules#schedule-{quote(name)}"


# --- schedules -----------------------------------------------------------------------------------


@router.get(f"{BASE}/schedules")
def schedules_page(
    request: Request, ran: str | None = None, job: str | None = None, removed: str | None = None
) -> Response:
    session = who(request)
    ctx = context(request)
    rows = schedules.list_schedules(ctx.connection, ctx.settings)
    return render(
        "schedules.html",
        who=session,
        can_act=session.allows("operator"),
        can_manage=session.allows("admin"),
        rows=rows,
        ran=ran,
        job=job,
        removed=removed,
    )


@router.post(BASE + "/schedules/{name}/{action}")
async def schedule_action(request: Request, name: str, action: str) -> Response:
    if action == "remove":
        return await _remove(request, name)
    if action not in {"pause", "resume", "run"}:
        raise Refused(404, f"no action {action!r} on a schedule", "pause, resume, run or remove")

    def act(connection: Any, settings: Any) -> str | None:
        with schedules.stored_only(connection, settings, name):
            if action == "pause":
                schedules.pause_schedule(connection, name)
            elif action == "resume":
                schedules.resume_schedule(connection, name)
            else:
                return schedules.run_now(connection, settings, name)
        return None

    _, job_id = await run_action(request, "operator", act)
    if job_id is None:
        return RedirectResponse(_schedule_url(name), status_code=303)
    query = urlencode({"ran": name, "job": job_id})
    return RedirectResponse(f"{BASE}/schedules?{query}#schedule-{quote(name)}", status_code=303)


@router.get(BASE + "/schedules/{name}/remove")
def remove_page(request: Request, name: str) -> Response:
    """The confirmation step: what the schedule is and what removing it does (and does not)."""
    session = who(request)
    if not session.allows("admin"):
        raise Refused(
            403,
            f"removing a schedule needs the admin role; {session.name} is {session.role}",
            "sign in with an admin token",
        )
    ctx = context(request)
    try:
        row = schedules.schedule_row(ctx.connection, ctx.settings, name)
    except JobctlError as exc:
        raise Refused(status_of(exc), exc.message, exc.hint) from None
    return render("schedule_remove.html", who=session, row=row)


async def _remove(request: Request, name: str) -> Response:
    def act(connection: Any, settings: Any) -> None:
        # checked here, not before: run_action has checked the CSRF token and the role by now
        if form.get("confirm", "").strip() != name:
            raise UsageError(
                f"type the schedule's name ({name}) to remove it: nothing was removed",
                "go back and type the name exactly",
            )
        schedules.remove_schedule(connection, name, settings)

    form = await read_form(request)  # run_action reads it again (Starlette keeps the body)
    await run_action(request, "admin", act)
    return RedirectResponse(f"{BASE}/schedules?removed={quote(name)}", status_code=303)


# --- alerts --------------------------------------------------------------------------------------


@router.get(f"{BASE}/alerts")
def alerts_page(request: Request) -> Response:
    session = who(request)
    ctx = context(request)
    data = alert_rules.overview(ctx.connection, ctx.settings)
    transitions = [
        {**t, "fired_for": None if t["fired_for_seconds"] is None else format_seconds(t["fired_for_seconds"])}
        for t in alerts.history(ctx.connection, HISTORY_SHOWN)
    ]
    return render("alerts.html", who=session, data=data, transitions=transitions, shown=HISTORY_SHOWN)


# --- audit log -----------------------------------------------------------------------------------


@router.get(f"{BASE}/audit")
def audit_page(
    request: Request,
    since: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    face: str | None = None,
    job_type: Annotated[str | None, Query(alias="type")] = None,
    cursor: str | None = None,
) -> Response:
    """Operator, like GET /api/audit: the log says who did what."""
    session = who(request)
    if not session.allows("operator"):
        raise Refused(
            403,
            f"the audit log needs the operator role; {session.name} is {session.role}",
            "sign in with an operator or admin token",
        )
    ctx = context(request)
    # an empty field in the filter form means no filter
    filters = {
        key: (value.strip() or None) if value else None
        for key, value in (
            ("since", since),
            ("actor", actor),
            ("action", action),
            ("face", face),
            ("type", job_type),
        )
    }
    error, entries, next_cursor = None, [], None
    try:
        found = audit.list_entries(
            ctx.connection,
            since=audit.parse_since(filters["since"], name="since"),
            actor=filters["actor"],
            action=filters["action"],
            face=filters["face"],
            job_type=filters["type"],
            limit=AUDIT_PAGE + 1,  # one more than shown: whether a next page exists
            before=cursor or None,
        )
        entries = found[:AUDIT_PAGE]
        next_cursor = entries[-1]["id"] if len(found) > AUDIT_PAGE else None
    except UsageError as exc:
        error = (exc.message, exc.hint)
    kept = {key: value for key, value in filters.items() if value}
    return render(
        "audit.html",
        who=session,
        filters=filters,
        faces=audit.FACES,
        job_types=offered(ctx.settings),
        entries=entries,
        error=error,
        paged=bool(cursor),
        first_url=f"{BASE}/audit?{urlencode(kept)}",
        next_url=f"{BASE}/audit?{urlencode({**kept, 'cursor': next_cursor})}" if next_cursor else None,
    )
