"""The queue page (jobs by state, paged; search by id, type or recipient; pause/resume; clear with a
dry-run count and the queue's name typed) and the job page (payload, attempts, error, result; retry,
cancel, delete). Reads are the CLI's core calls; what they show is redacted for every role, as the API
shows it (it never reveals). Actions go through `run_action`: pause/resume, retry and cancel need the
operator role, clear and delete the admin role (the API's roles for the same calls)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import redis
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from jobctl.config import Settings
from jobctl.core import audit, browse, dlq, ops, search
from jobctl.core.catalog import get_policy, queue_catalog, split_physical
from jobctl.core.jobtypes import offered
from jobctl.core.stats import queue_stats
from jobctl.errors import JobctlError, UsageError
from jobctl.web.common import BASE, Refused, context, read_form, render, run_action, status_of, who
from jobctl.web.sessions import Session

router = APIRouter(include_in_schema=False)

PAGE = 50  # jobs a queue page lists at a time
TABS = ("waiting", "active", "scheduled", "failed", "completed")
# which time a tab's rows show: when they were queued, started, are due, ended
TIME_OF = {
    "waiting": ("enqueued", "enqueued_at"),
    "active": ("started", "started_at"),
    "scheduled": ("runs at", "runs_at"),
    "failed": ("ended", "ended_at"),
    "completed": ("ended", "ended_at"),
}
FINDS = ("recipient", "type", "id")
MAX_SEARCH = 320  # characters of search text (the longest email address), as the API takes
SCAN_LIMIT = search.SCAN_LIMIT  # jobs a type/recipient search examines at most (the CLI's default)
CANCELABLE = ("queued", "scheduled", "deferred", "started")
# what the job page says after an action redirected to it (the query names a fixed message, no text)
DONE = {
    "retried": "Retried: the job is back in its queue.",
    "replayed": "Replayed from the dead letters: the job is back in its queue.",
    "canceled": "Canceled.",
    "stop-requested": "Its worker was asked to stop it.",
}


def queue_url(queue: str) -> str:
    return f"{BASE}/queues/{quote(queue, safe='')}"


def job_url(job_id: str) -> str:
    return f"{BASE}/job/{quote(job_id, safe='')}"


def _reading(read: Any) -> Any:
    """A core read; its refusal (unknown queue, bad id, no such job) as an HTML error page."""
    try:
        return read()
    except JobctlError as exc:
        raise Refused(status_of(exc), exc.message, exc.hint) from None


def _pretty(value: Any) -> str | None:
    return None if value is None else json.dumps(value, indent=2, default=str, ensure_ascii=False)


# --- the queue page ------------------------------------------------------------------------------


def _search(
    connection: redis.Redis, settings: Settings, queue: str, find: str, text: str
) -> tuple[dict[str, Any] | None, str | None]:
    """(the search's answer, or None and why it was refused)."""
    if len(text) > MAX_SEARCH:
        return None, f"search text is longer than {MAX_SEARCH} characters"
    criteria = {"recipient": {"recipient": text}, "type": {"job_type": text}, "id": {"job_id": text}}[find]
    try:
        return search.search_jobs(
            connection, settings, queue=queue, limit=PAGE, scan_limit=SCAN_LIMIT, **criteria
        ), None
    except UsageError as exc:
        return None, f"{exc.message}" + (f" ({exc.hint})" if exc.hint else "")


def scan_note(found: dict[str, Any]) -> str:
    """How much the search examined, so a bounded answer is not read as a full one."""
    if found["by"] == "id":
        return "looked up by id"
    if found["complete"]:
        note = f"complete: scanned all {found['scanned']:,} jobs"
    elif found["stopped"] == "limit":
        note = (
            f"stopped at {found['query']['limit']} matches after scanning "
            f"{found['scanned']:,} of {found['total']:,} jobs; more may match"
        )
    else:
        note = f"bounded: scanned {found['scanned']:,} of {found['total']:,} jobs (newest first)"
    if found["unreadable"]:
        note += f"; {found['unreadable']:,} encrypted job(s) skipped: no key here opens them"
    return note


@router.get(BASE + "/queues/{queue}")
def queue_page(
    request: Request,
    queue: str,
    state: str | None = None,
    offset: int = 0,
    find: str = "recipient",
    q: str = "",
) -> Response:
    session = who(request)
    ctx = context(request)
    connection, settings = ctx.connection, ctx.settings
    policy = _reading(lambda: get_policy(queue_catalog(settings), queue))
    state = state or browse.default_state(policy.name, settings)
    if state not in TABS:
        raise Refused(400, f"unknown state {state!r}", f"use one of {', '.join(TABS)}")
    if find not in FINDS:
        raise Refused(400, f"cannot search by {find!r}", f"search by {', '.join(FINDS)}")
    [stats] = _reading(lambda: queue_stats(connection, settings, policy.name))["queues"]
    page = _reading(lambda: browse.queue_jobs(connection, settings, policy.name, state, max(0, offset), PAGE))
    found, search_error = (
        _search(connection, settings, policy.name, find, q.strip()) if q.strip() else (None, None)
    )
    return render(
        "queue.html",
        status=400 if search_error else 200,
        who=session,
        can_act=session.allows("operator"),
        can_manage=session.allows("admin"),
        queue=policy.name,
        dead_letter=policy.is_dead_letter,
        paused=policy.name in ops.paused_queues(connection),
        totals=stats["totals"],
        tabs=TABS,
        state=state,
        time_label=TIME_OF[state][0],
        time_field=TIME_OF[state][1],
        page=page,
        page_size=PAGE,
        clearable=state in ops.CLEAR_STATES,
        finds=FINDS,
        find=find,
        q=q,
        found=found,
        found_note=scan_note(found) if found else None,
        search_error=search_error,
        job_types=list(offered(settings)),
        queue_url=queue_url(policy.name),
    )


@router.post(BASE + "/queues/{queue}/actions/{action}")
async def queue_page_action(request: Request, queue: str, action: str) -> Response:
    """Pause or resume from the queue page (operator), back to it after."""
    actions = {"pause": ops.pause_queue, "resume": ops.resume_queue}
    if action not in actions:
        raise Refused(404, f"no action {action!r} on a queue", "pause or resume")
    _, done = await run_action(
        request, "operator", lambda connection, settings: actions[action](connection, settings, queue)
    )
    return RedirectResponse(queue_url(done["queue"]), status_code=303)


def _clear_plan(connection: redis.Redis, settings: Settings, queue: str, state: str) -> dict[str, Any]:
    return ops.clear_queue(connection, settings, queue, state, None, dry_run=True)


@router.get(BASE + "/queues/{queue}/clear/{state}")
def clear_confirmation(request: Request, queue: str, state: str) -> Response:
    """The confirmation step: what a clear would remove (its dry run), and a field for the queue's name."""
    session = who(request)
    if not session.allows("admin"):
        raise Refused(403, f"clearing a queue needs the admin role; {session.name} is {session.role}")
    ctx = context(request)
    plan = _reading(lambda: _clear_plan(ctx.connection, ctx.settings, queue, state))
    return _confirmation(session, plan, error=None)


def _confirmation(session: Session, plan: dict[str, Any], error: str | None) -> Response:
    return render(
        "queue_clear.html",
        status=400 if error else 200,
        who=session,
        plan=plan,
        states=(*ops.CLEAR_STATES, "all"),
        error=error,
        queue_url=queue_url(plan["queue"]),
    )


@router.post(BASE + "/queues/{queue}/clear/{state}")
async def clear(request: Request, queue: str, state: str) -> Response:
    """Clears (admin) only when the queue's name was typed; else the confirmation again, nothing done."""
    typed = (await read_form(request)).get("confirm", "").strip()

    def act(connection: redis.Redis, settings: Settings) -> tuple[bool, dict[str, Any]]:
        plan = _clear_plan(connection, settings, queue, state)
        if typed != plan["queue"]:
            return False, plan
        return True, ops.clear_queue(connection, settings, queue, state, None)

    session, (cleared, result) = await run_action(request, "admin", act)
    if not cleared:
        error = f"You typed {typed!r}: type {result['queue']} to clear it. Nothing was cleared."
        return _confirmation(
            session,
            result,
            error=error if typed else "Type the queue's name to clear it. Nothing was cleared.",
        )
    return render("queue_cleared.html", who=session, result=result, queue_url=queue_url(result["queue"]))


# --- the job page --------------------------------------------------------------------------------


def _read_job(
    connection: redis.Redis, settings: Settings, job_id: str, reveal: bool = False
) -> dict[str, Any]:
    """The job redacted (as the API shows it) unless `reveal`, whether it is dead-lettered, and its
    queue's URL; a dead job whose data is gone is shown from its dead-letter entry."""
    try:
        detail = browse.job_detail(connection, settings, job_id, reveal=reveal)
    except JobctlError as exc:
        if browse.JOB_ID.match(job_id) and dlq.previous_entry(connection, job_id) is not None:
            return {"id": job_id, "gone": True, "dead": True}
        raise Refused(status_of(exc), exc.message, exc.hint) from None
    detail["dead"] = detail["status"] == "failed" and dlq.previous_entry(connection, job_id) is not None
    detail["gone"] = False
    return detail


@router.get(BASE + "/job/{job_id}")
def job_page(request: Request, job_id: str, done: str = "") -> Response:
    session = who(request)
    ctx = context(request)
    return _job_page(session, _read_job(ctx.connection, ctx.settings, job_id), job_id, done)


@router.post(BASE + "/job/{job_id}/reveal")
async def reveal(request: Request, job_id: str) -> Response:
    """The page with personal data shown (admin; audited as job.reveal): a POST, so it needs the
    CSRF token and never sits in a link or the browser's history."""

    def read(connection: redis.Redis, settings: Settings) -> dict[str, Any]:
        with audit.audited(connection, settings, "job.reveal", job_id) as entry:
            job = _read_job(connection, settings, job_id, reveal=True)
            entry.count = 1
        return job

    session, job = await run_action(request, "admin", read)
    return _job_page(session, job, job_id, "", revealed=True)


def _job_page(
    session: Session, job: dict[str, Any], job_id: str, done: str, revealed: bool = False
) -> Response:
    status = job.get("status")
    can_act, can_manage = session.allows("operator"), session.allows("admin")
    return render(
        "job.html",
        who=session,
        job=job,
        done=DONE.get(done),
        can_retry=can_act and status == "failed",
        can_cancel=can_act and status in CANCELABLE,
        can_delete=can_manage and not job["gone"] and not job["dead"] and status != "started",
        payload=_pretty(job.get("payload")),
        result=_pretty(job.get("result")),
        queue_url=queue_url(job["queue"]) if job.get("queue") else None,
        dead_letter_url=f"{BASE}/dead-letters/{quote(job_id, safe='')}",
        job_url=job_url(job_id),
        revealed=revealed,
        can_reveal=can_manage and not revealed and not job["gone"],
    )


@router.post(BASE + "/job/{job_id}/retry")
async def retry(request: Request, job_id: str) -> Response:
    """The one retry verb (operator): a failed job back to its queue, a dead-lettered one replayed."""
    _, result = await run_action(
        request, "operator", lambda connection, settings: ops.retry_jobs(connection, settings, [job_id])
    )
    [one] = result["results"]
    if one["outcome"] == "not_found":
        raise Refused(404, one["reason"], "it may have been deleted or trimmed")
    if one["outcome"] == "refused":
        raise Refused(
            409,
            f"job {job_id} was not retried: {one['reason']}",
            "only failed and dead-lettered jobs are retried",
        )
    return RedirectResponse(f"{job_url(job_id)}?done={one['outcome']}", status_code=303)


@router.post(BASE + "/job/{job_id}/cancel")
async def cancel(request: Request, job_id: str) -> Response:
    """Cancel a waiting or scheduled job; ask a running one's worker to stop it (operator)."""
    _, result = await run_action(
        request, "operator", lambda connection, settings: ops.cancel_job(connection, settings, job_id)
    )
    done = "stop-requested" if result["action"] == "stop requested" else "canceled"
    return RedirectResponse(f"{job_url(job_id)}?done={done}", status_code=303)


@router.get(BASE + "/job/{job_id}/delete")
def delete_confirmation(request: Request, job_id: str) -> Response:
    session = who(request)
    if not session.allows("admin"):
        raise Refused(403, f"deleting a job needs the admin role; {session.name} is {session.role}")
    ctx = context(request)
    job = _read_job(ctx.connection, ctx.settings, job_id)
    return render("job_delete.html", who=session, job=job, job_url=job_url(job_id))


@router.post(BASE + "/job/{job_id}/delete")
async def delete(request: Request, job_id: str) -> Response:
    """Delete a job and its data (admin); never a running or dead-lettered one (the core refuses)."""

    def act(connection: redis.Redis, settings: Settings) -> tuple[str | None, dict[str, Any]]:
        queue = split_physical(browse.fetch_job(connection, job_id).origin or "")[0] or None
        return queue, ops.delete_jobs(connection, settings, [job_id])

    session, (queue, result) = await run_action(request, "admin", act)
    if result["not_found"]:
        raise Refused(404, f"no job {job_id!r}", "it may have been deleted or trimmed already")
    if result["refused"]:
        raise Refused(
            409,
            f"job {job_id} was not deleted: {result['refused'][0]['reason']}",
            "cancel a running job first; purge a dead-lettered one from the dead letters",
        )
    return render(
        "job_deleted.html", who=session, job_id=job_id, queue_url=queue_url(queue) if queue else BASE
    )
