"""The dashboard's routes under /admin/jobs: sign-in and sign-out, the overview and its live fragment,
pause/resume; `install` adds them and the static files to the app `jobctl serve` runs.

Access, checked on the server for every page and action:
- a page needs a session (jobctl.web.sessions) or, like the API, the loopback "anonymous" viewer
  (a server bound to loopback while no token exists at all); without either it redirects to sign-in,
  and the live fragment answers 401, on which the page's script goes to sign-in;
- every POST but sign-in carries the session's CSRF token (missing or wrong: 403, nothing done),
  then needs the action's role (viewer sees, operator acts, admin manages: 403 otherwise);
- every action runs as the token's name with face "web" in the audit log;
- a failed sign-in waits FAILED_SIGN_IN_DELAY seconds, one failure at a time per server process,
  so guesses are not faster than that however many are sent at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool

from jobctl.core import audit, ops, tokens
from jobctl.errors import JobctlError, NotFound, RedisUnavailable, UsageError
from jobctl.web import charts
from jobctl.web.overview import read_overview
from jobctl.web.sessions import Session, close_session, load_session, open_session

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

router = APIRouter(include_in_schema=False)


class _Refused(Exception):
    """An HTML error page: 403 for a missing CSRF token or role, 4xx/5xx for a refused action."""

    def __init__(self, status: int, message: str, hint: str | None = None):
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint


class _SignInNeeded(Exception):
    def __init__(self, expired: bool):
        super().__init__("sign in")
        self.expired = expired


def _render(
    template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    html = templates.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def _context(request: Request) -> Any:
    return request.app.state.jobctl  # jobctl.http.context.ApiContext: settings, connection, loopback


def _who(request: Request) -> Session:
    """The signed-in session, or the loopback anonymous viewer; else _SignInNeeded."""
    ctx = _context(request)
    cookie = request.cookies.get(COOKIE)
    session = load_session(ctx.connection, cookie)
    if session is not None:
        return session
    if ctx.loopback and not tokens.has_tokens(ctx.connection):
        return ANONYMOUS
    raise _SignInNeeded(expired=bool(cookie))


async def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body, one value per field (the last one wins); any other
    body counts as an empty form (so it carries no CSRF token and is refused by _check)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    body = (await request.body()).decode("utf-8", "replace")
    try:
        fields = parse_qs(body, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise _Refused(400, "too many form fields") from None
    return {name: values[-1] for name, values in fields.items()}


def _check(session: Session, form: dict[str, str], role: str) -> None:
    """The CSRF token first (a forged request learns nothing about roles), then the role."""
    if not session.csrf_matches(form.get("csrf")):
        raise _Refused(403, "missing or wrong CSRF token: nothing was done", "reload the page and try again")
    if not session.allows(role):
        raise _Refused(
            403,
            f"this needs the {role} role; {session.name} is {session.role}: nothing was done",
            f"sign in with a token of role {role} or above",
        )


def _status_of(exc: JobctlError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, RedisUnavailable):
        return 503
    return 400 if isinstance(exc, UsageError) else 409


# --- redirects to the dashboard ------------------------------------------------------------------


@router.get("/")
@router.get("/admin")
@router.get("/admin/")
@router.get(f"{BASE}/")
def to_dashboard() -> RedirectResponse:
    return RedirectResponse(BASE, status_code=307)


# --- sign-in and sign-out ------------------------------------------------------------------------


@router.get(LOGIN)
def login_page(request: Request, expired: int = 0) -> Response:
    ctx = _context(request)
    if load_session(ctx.connection, request.cookies.get(COOKIE)) is not None:
        return RedirectResponse(BASE, status_code=303)
    note = "Your session has ended: sign in again." if expired else None
    if ctx.loopback and not tokens.has_tokens(ctx.connection):
        note = "No API token exists yet: on this loopback address anyone may look without signing in."
    return _render("login.html", who=None, error=None, note=note)


@router.post(LOGIN)
async def login(request: Request) -> Response:
    ctx = _context(request)
    form = await _form(request)
    presented = form.get("token", "").strip()
    owner = await run_in_threadpool(tokens.authenticate, ctx.connection, presented) if presented else None
    if owner is None:
        async with request.app.state.web_sign_in_failures:
            await asyncio.sleep(FAILED_SIGN_IN_DELAY)
        error = "That token is not valid (mistyped, or revoked)." if presented else "Paste a token first."
        return _render("login.html", status=401, who=None, error=error, note=None)
    session_id = await run_in_threadpool(open_session, ctx.connection, owner, ctx.settings.web_session_ttl)
    response = RedirectResponse(BASE, status_code=303)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=ctx.settings.web_session_ttl,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post(f"{BASE}/logout")
async def logout(request: Request) -> Response:
    ctx = _context(request)
    session = await run_in_threadpool(_who, request)
    _check(session, await _form(request), "viewer")
    await run_in_threadpool(close_session, ctx.connection, request.cookies.get(COOKIE))
    response = RedirectResponse(LOGIN, status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


# --- the overview --------------------------------------------------------------------------------


@router.get(BASE)
def overview(request: Request) -> Response:
    session = _who(request)
    ctx = _context(request)
    data = read_overview(ctx.connection, ctx.settings)
    return _render("overview.html", who=session, can_act=session.allows("operator"), data=data)


@router.get(f"{BASE}/fragments/overview")
def overview_fragment(request: Request) -> Response:
    session = _who(request)
    ctx = _context(request)
    data = read_overview(ctx.connection, ctx.settings)
    return _render(
        "_overview_live.html",
        who=session,
        can_act=session.allows("operator"),
        data=data,
        headers={"X-Generated-At": data["generated_at"]},
    )


@router.post(BASE + "/queues/{queue}/{action}")
async def queue_action(request: Request, queue: str, action: str) -> Response:
    actions = {"pause": ops.pause_queue, "resume": ops.resume_queue}
    if action not in actions:
        raise _Refused(404, f"no action {action!r} on a queue", "pause or resume")
    session = await run_in_threadpool(_who, request)
    _check(session, await _form(request), "operator")
    ctx = _context(request)

    def act() -> None:
        with audit.acting_as(audit.Actor(session.name, "web")):
            actions[action](ctx.connection, ctx.settings, queue)

    try:
        await run_in_threadpool(act)
    except JobctlError as exc:
        raise _Refused(_status_of(exc), exc.message, exc.hint) from None
    return RedirectResponse(f"{BASE}#queue-{quote(queue)}", status_code=303)


# --- wiring --------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Add the dashboard's routes, its static files and its error pages to `app`."""
    app.include_router(router)
    app.state.web_sign_in_failures = (
        asyncio.Lock()
    )  # failed sign-ins wait in turn: parallel guesses gain nothing
    app.mount(f"{BASE}/static", StaticFiles(directory=HERE / "static"), name="web-static")

    @app.exception_handler(_SignInNeeded)
    async def sign_in(request: Request, exc: _SignInNeeded) -> Response:
        target = f"{LOGIN}?expired=1" if exc.expired else LOGIN
        if request.method == "GET" and request.url.path != f"{BASE}/fragments/overview":
            return RedirectResponse(target, status_code=303)
        # the page's script, or a form posted after the session ended: 401, and where to sign in
        return _render(
            "error.html",
            status=401,
            headers={"X-Jobctl-Sign-In": target},
            who=None,
            message="You are not signed in (or your session has ended).",
            hint=None,
            link=target,
        )

    @app.exception_handler(_Refused)
    async def refused(_request: Request, exc: _Refused) -> Response:
        return _render(
            "error.html", status=exc.status, who=None, message=exc.message, hint=exc.hint, link=BASE
        )
