"""The dashboard's dead-letter pages under /admin/jobs/dead-letters: the entries grouped by error
fingerprint, a filtered and paged list, one entry in full, and replay (operator) / purge (admin) of
one entry or of everything a filter matches, each behind a confirmation page showing the dry run.

Every read is a core call the CLI makes too: `dlq.groups` (O(groups)), `dlq.list_entries` (a page; a
filtered page reads at most SCAN_LIMIT entries, then says where it stopped), `dlq.get_entry`, and
`dlq.replay` / `dlq.purge` with `dry_run=True` for the preview. The confirming form carries the same
filters back as hidden fields with the dry run's `selection` (a digest of the ids it listed): the core
acts only if the filters still select exactly those entries, else nothing is done (409, saying so),
so a purge never takes an entry nobody was shown.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from jobctl.core import audit, dlq, dlq_groups
from jobctl.core.browse import JOB_ID
from jobctl.core.catalog import queue_catalog
from jobctl.errors import JobctlError, NotFound, UsageError
from jobctl.web.common import BASE, Refused, context, read_form, render, run_action, status_of, who
from jobctl.web.sessions import Session

router = APIRouter(include_in_schema=False)

DLQ = f"{BASE}/dead-letters"
PAGE = 50  # entries per list page
SCAN_LIMIT = 5000  # entries a filtered list page reads at most; "search on" resumes from there
PREVIEW_ROWS = 20  # entries a bulk preview lists by name (its counts cover every match)
FILTERS = ("queue", "since", "error", "fingerprint")
# what each bulk action is: its core call, the role it needs (as in the API: POST /retry is operator,
# DELETE /dlq admin), and the words its pages use
ACTIONS: dict[str, dict[str, Any]] = {
    "replay": {"call": dlq.replay, "role": "operator", "verb": "Replay", "done": "replayed"},
    "purge": {"call": dlq.purge, "role": "admin", "verb": "Purge", "done": "purged"},
}


def _filters(params: Any) -> dict[str, str]:
    """The four filters from a query string or a form, blanks dropped, spaces trimmed."""
    return {
        name: str(params.get(name) or "").strip() for name in FILTERS if str(params.get(name) or "").strip()
    }


def _core_filters(filters: dict[str, str]) -> dict[str, str | None]:
    """The filters as dlq.list_entries / replay / purge name them (bad values refused by the core)."""
    if "since" in filters:
        dlq.parse_since(filters["since"], "since")  # named as this page's field, not the CLI's --since
    if "fingerprint" in filters:
        dlq_groups.check_fingerprint_id(filters["fingerprint"], "fingerprint")
    return {
        "queue": filters.get("queue"),
        "since": filters.get("since"),
        "error_contains": filters.get("error"),
        "fingerprint": filters.get("fingerprint"),
    }


def _query(filters: dict[str, str], **more: str | None) -> str:
    fields = {**filters, **{k: v for k, v in more.items() if v}}
    return "?" + urlencode(fields) if fields else ""


def _action(name: str) -> dict[str, Any]:
    if name not in ACTIONS:
        raise Refused(404, f"no action {name!r} on dead letters", "replay or purge")
    return ACTIONS[name]


def _job_id(job_id: str) -> str:
    if not JOB_ID.match(job_id):
        raise Refused(404, f"no dead-letter entry {job_id[:130]!r}", "pick one from the list")
    return job_id


def _queues(settings: Any) -> list[str]:
    """The queues a dead letter can come from: every queue but the dead-letter pseudo-queue itself."""
    return [name for name, policy in queue_catalog(settings).items() if not policy.is_dead_letter]


def _may(session: Session) -> dict[str, bool]:
    return {name: session.allows(spec["role"]) for name, spec in ACTIONS.items()}


def _refused(exc: JobctlError) -> Refused:
    return Refused(status_of(exc), exc.message, exc.hint)


# --- reads ----------------------------------------------------------------------------------------


@router.get(DLQ)
def groups_page(request: Request) -> Response:
    """The groups, biggest first; `queue` and `since` narrow them as `jobctl dlq groups` does."""
    session = who(request)
    ctx = context(request)
    filters = {k: v for k, v in _filters(request.query_params).items() if k in ("queue", "since")}
    error, data = None, None
    try:
        core = _core_filters(filters)
        data = dlq.groups(ctx.connection, ctx.settings, queue=core["queue"], since=core["since"])
    except (UsageError, NotFound) as exc:  # a mistyped filter (or queue): said next to the form
        error = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
    except JobctlError as exc:
        raise _refused(exc) from None
    return render(
        "dlq_groups.html",
        who=session,
        may=_may(session),
        filters=filters,
        queues=_queues(ctx.settings),
        data=data,
        error=error,
        query=_query,
    )


@router.get(f"{DLQ}/list")
def list_page(
    request: Request, cursor: str | None = None, done: str | None = None, job: str | None = None
) -> Response:
    """A page of entries, newest first, filtered by queue, since, error text and group; paged by the
    core's cursor. A filtered page reads at most SCAN_LIMIT entries and says so when it stopped there."""
    session = who(request)
    ctx = context(request)
    filters = _filters(request.query_params)
    error, page = None, None
    try:
        page = dlq.list_entries(
            ctx.connection,
            ctx.settings,
            **_core_filters(filters),
            limit=PAGE,
            cursor=cursor or None,
            scan_limit=SCAN_LIMIT,
        )
    except (UsageError, NotFound) as exc:
        error = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
    except JobctlError as exc:
        raise _refused(exc) from None
    return render(
        "dlq_list.html",
        who=session,
        may=_may(session),
        filters=filters,
        queues=_queues(ctx.settings),
        page=page,
        cursor=cursor,
        error=error,
        query=_query,
        scan_limit=SCAN_LIMIT,
        purged=job if done == "purged" and job and JOB_ID.match(job) else None,
    )


# --- bulk replay / purge of a filter ----------------------------------------------------------------


def _matched(preview: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries a dry run of replay (summaries) or purge (ids) selected."""
    return preview.get("would_replay") or [{"job_id": i} for i in preview.get("would_purge", [])]


@router.get(DLQ + "/list/{action}")
def bulk_preview(request: Request, action: str) -> Response:
    """The dry run of replaying / purging everything the filters match, and the button that does it."""
    spec = _action(action)
    session = who(request)
    if not session.allows(spec["role"]):
        raise Refused(403, f"this needs the {spec['role']} role; {session.name} is {session.role}")
    ctx = context(request)
    filters = _filters(request.query_params)
    try:
        preview = spec["call"](
            ctx.connection, ctx.settings, everything=True, dry_run=True, **_core_filters(filters)
        )
    except JobctlError as exc:
        raise _refused(exc) from None
    matched = _matched(preview)
    return render(
        "dlq_confirm.html",
        who=session,
        action=action,
        verb=spec["verb"],
        filters=filters,
        selection=preview["selection"],
        count=len(matched),
        sample=matched[:PREVIEW_ROWS],
        by_queue=preview["by_queue"],
        target=None,
        post=f"{DLQ}/list/{action}",
        back=f"{DLQ}/list{_query(filters)}",
    )


@router.post(DLQ + "/list/{action}")
async def bulk_act(request: Request, action: str) -> Response:
    """Replay / purge everything the posted filters match: the filters the preview showed."""
    spec = _action(action)
    form = await read_form(request)
    filters = _filters(form)  # checked in the action: the CSRF token comes first

    def act(connection: Any, settings: Any) -> dict[str, Any]:
        return spec["call"](
            connection,
            settings,
            everything=True,
            expect_selection=form.get("selection", ""),
            **_core_filters(filters),
        )

    session, result = await run_action(request, spec["role"], act)
    return render(
        "dlq_done.html",
        who=session,
        verb=spec["verb"],
        done=spec["done"],
        ids=result[spec["done"]],
        refused=result.get("refused", []),
        filters=filters,
        back=f"{DLQ}/list{_query(filters)}",
    )


# --- one entry --------------------------------------------------------------------------------------


@router.get(DLQ + "/{job_id}/{action}")
def entry_preview(request: Request, job_id: str, action: str) -> Response:
    """The confirmation of replaying / purging one entry: what the dry run found."""
    spec = _action(action)
    job_id = _job_id(job_id)
    session = who(request)
    if not session.allows(spec["role"]):
        raise Refused(403, f"this needs the {spec['role']} role; {session.name} is {session.role}")
    ctx = context(request)
    try:
        entry = dlq.get_entry(ctx.connection, job_id)
        preview = spec["call"](ctx.connection, ctx.settings, [job_id], dry_run=True)
    except JobctlError as exc:
        raise _refused(exc) from None
    if preview["not_found"]:
        raise Refused(409, f"{job_id} is no longer dead-lettered ({entry.get('state')})", "nothing to do")
    return render(
        "dlq_confirm.html",
        who=session,
        action=action,
        verb=spec["verb"],
        filters={},
        count=1,
        sample=[dlq.summary(entry)],
        by_queue=preview["by_queue"],
        target=job_id,
        post=f"{DLQ}/{quote(job_id)}/{action}",
        back=f"{DLQ}/{quote(job_id)}",
    )


@router.post(DLQ + "/{job_id}/reveal")
async def entry_reveal(request: Request, job_id: str) -> Response:
    """The entry with personal data shown (admin; audited as dlq.reveal): a POST, so it needs the
    CSRF token and never sits in a link or the browser's history. Registered before the actions."""
    job_id = _job_id(job_id)

    def read(connection: Any, settings: Any) -> dict[str, Any]:
        with audit.audited(connection, settings, "dlq.reveal", job_id) as entry:
            found = dlq.get_entry(connection, job_id, reveal=True)
            entry.count = 1
        return found

    session, found = await run_action(request, "admin", read)
    return render("dlq_entry.html", who=session, may=_may(session), entry=found, done=None, revealed=True)


@router.post(DLQ + "/{job_id}/{action}")
async def entry_act(request: Request, job_id: str, action: str) -> Response:
    spec = _action(action)
    job_id = _job_id(job_id)
    _session, result = await run_action(
        request, spec["role"], lambda connection, settings: spec["call"](connection, settings, [job_id])
    )
    if result["not_found"]:
        raise Refused(409, f"{job_id} is no longer dead-lettered: nothing was done", "reload its page")
    if result.get("refused"):
        [one] = result["refused"]
        raise Refused(409, f"{job_id} was not replayed: {one['reason']}", "purge it, or fix the job type")
    if action == "replay":  # the entry stays, marked replayed, with its replay record
        return RedirectResponse(f"{DLQ}/{quote(job_id)}?done=replayed", status_code=303)
    return RedirectResponse(f"{DLQ}/list?done=purged&job={quote(job_id)}", status_code=303)


@router.get(DLQ + "/{job_id}")
def entry_page(request: Request, job_id: str, done: str | None = None) -> Response:
    """One entry as `jobctl dlq show` gives it, redacted: payload, every attempt, the last traceback
    in full, replays; replay / purge buttons for the roles that may use them, while it is dead."""
    job_id = _job_id(job_id)
    session = who(request)
    ctx = context(request)
    try:
        entry = dlq.get_entry(ctx.connection, job_id)
    except JobctlError as exc:
        raise _refused(exc) from None
    return render(
        "dlq_entry.html",
        who=session,
        may=_may(session),
        entry=entry,
        done=done if done in ("replayed",) else None,
        revealed=False,
    )
