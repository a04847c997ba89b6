"""GET /api/audit: the audit log (jobctl audit list --json), for operators and admins.

Operator, not viewer: the log says who did what and when (OS user and token names, the jobs and
queues they acted on, token and key changes). A viewer token is the one handed to dashboards and
scrapers; operators are the people whose actions the log records and who need to see what the others
did ("who replayed these already?"). Filters and errors are stored redacted, and no token secret is
ever in the log, so it needs no admin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from jobctl.core import audit
from jobctl.http.auth import Caller, Operator
from jobctl.http.common import Ctx, error_responses
from jobctl.http.models import MAX_PAGE, AuditCursor, AuditFace

router = APIRouter()


@router.get(
    "/api/audit",
    summary="Recorded changes, newest first, paged (operator; jobctl audit list --json)",
    responses=error_responses(400, 403),
)
def audit_list(
    ctx: Ctx,
    caller: Caller = Operator,
    since: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="Only newer entries: 15m, 1h30m, 7d or an ISO time."),
    ] = None,
    actor: Annotated[
        str | None, Query(max_length=200, description="Only this OS user or token name.")
    ] = None,
    action: Annotated[
        str | None,
        Query(max_length=100, description="Only this action, e.g. enqueue, queue.clear, dlq.replay."),
    ] = None,
    job_type: Annotated[
        str | None,
        Query(alias="type", max_length=100, description="Only entries for this job type, e.g. email."),
    ] = None,
    face: Annotated[AuditFace | None, Query(description="Only changes made through this face.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="At most this many entries.")] = 100,
    cursor: Annotated[
        AuditCursor | None, Query(description="next_cursor of the previous page: the entries after it.")
    ] = None,
) -> dict[str, Any]:
    """`entries` as `jobctl audit list --json` prints them (each with its `id`), and `next_cursor`:
    the id to pass as `cursor` for the next (older) page, null on the last page. A `since` window
    costs what it holds; actor/action/face/type read back through the log until the page is full."""
    entries = audit.list_entries(
        ctx.connection,
        since=audit.parse_since(since, name="since"),
        actor=actor,
        action=action,
        face=face,
        job_type=job_type,
        limit=limit + 1,  # one more than shown: whether a next page exists
        before=cursor,
    )
    shown = entries[:limit]
    return {"entries": shown, "next_cursor": shown[-1]["id"] if len(entries) > limit else None}
