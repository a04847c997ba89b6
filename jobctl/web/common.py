"""What every dashboard page shares: the URL layout, the templates, the security headers, who is
asking (a session or the loopback anonymous viewer), form reading, the CSRF-then-role check, and
running a core action as the signed-in token with face "web". The access rules are in
jobctl.web.pages' docstring."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool

from jobctl.core import audit, tokens
from jobctl.errors import JobctlError, NotFound, RedisUnavailable, UsageError
from jobctl.web import charts
from jobctl.web.sessions import Session, load_session

T = TypeVar("T")

BASE = "/admin/jobs"
LOGIN = f"{BASE}/login"
COOKIE = "jobctl_session"
COOKIE_PATH = "/admin"
POLL_MS = 2000  # how often the overview's live part is fetched again
FAILED_SIGN_IN_DELAY = 0.25  # seconds every failed sign-in waits, one at a time
MAX_FORM_FIELDS = 20
HERE = Path(__file__).parent
ANONYMOUS = Session("anonymous", "viewer", csrf="")  # no CSRF token: it has no session and may not act
# what the pages may load: only their own files; no frames, no forms posted elsewhere
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.globals.update(base=BASE, bars=charts.bars, poll_ms=POLL_MS)


class Refused(Exception):
    """An HTML error page: 403 for a missing CSRF token or role, 4xx/5xx for a refused action."""

    def __init__(self, status: int, message: str, hint: str | None = None):
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint


class SignInNeeded(Exception):
    def __init__(self, expired: bool):
        super().__init__("sign in")
        self.expired = expired


def render(
    template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    html = templates.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def context(request: Request) -> Any:
    return request.app.state.jobctl  # jobctl.http.context.ApiContext: settings, connection, loopback


def who(request: Request) -> Session:
    """The signed-in session, or the loopback anonymous viewer; else SignInNeeded."""
    ctx = context(request)
    cookie = request.cookies.get(COOKIE)
    session = load_session(ctx.connection, cookie)
    if session is not None:
        return session
    if ctx.loopback and not tokens.has_tokens(ctx.connection):
        return ANONYMOUS
    raise SignInNeeded(expired=bool(cookie))


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body, one value per field (the last one wins); any other
    body counts as an empty form (so it carries no CSRF token and is refused by check)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    body = (await request.body()).decode("utf-8", "replace")
    try:
        fields = parse_qs(body, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise Refused(400, "too many form fields") from None
    return {name: values[-1] for name, values in fields.items()}


def check(session: Session, form: dict[str, str], role: str) -> None:
    """The CSRF token first (a forged request learns nothing about roles), then the role."""
    if not session.csrf_matches(form.get("csrf")):
        raise Refused(403, "missing or wrong CSRF token: nothing was done", "reload the page and try again")
    if not session.allows(role):
        raise Refused(
            403,
            f"this needs the {role} role; {session.name} is {session.role}: nothing was done",
            f"sign in with a token of role {role} or above",
        )


def status_of(exc: JobctlError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, RedisUnavailable):
        return 503
    return 400 if isinstance(exc, UsageError) else 409


async def run_action(request: Request, role: str, action: Callable[[Any, Any], T]) -> tuple[Session, T]:
    """A POSTed action: who is asking, their CSRF token and role checked, then
    `action(connection, settings)` in a worker thread, audited as the token with face "web"; a
    refused core call becomes an error page with its message and hint."""
    session = await run_in_threadpool(who, request)
    check(session, await read_form(request), role)
    ctx = context(request)

    def act() -> T:
        with audit.acting_as(audit.Actor(session.name, "web")):
            return action(ctx.connection, ctx.settings)

    try:
        return session, await run_in_threadpool(act)
    except JobctlError as exc:
        raise Refused(status_of(exc), exc.message, exc.hint) from None
