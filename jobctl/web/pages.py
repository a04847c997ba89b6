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
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from jobctl.core import ops, tokens
from jobctl.web import dlq_pages, jobs_pages, ops_pages
from jobctl.web.common import (
    BASE,
    COOKIE,
    COOKIE_PATH,
    FAILED_SIGN_IN_DELAY,
    HERE,
    LOGIN,
    Refused,
    SignInNeeded,
    check,
    context,
    read_form,
    render,
    run_action,
    who,
)
from jobctl.web.overview import read_overview
from jobctl.web.sessions import close_session, load_session, open_session

router = APIRouter(include_in_schema=False)


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
    ctx = context(request)
    if load_session(ctx.connection, request.cookies.get(COOKIE)) is not None:
        return RedirectResponse(BASE, status_code=303)
    note = "Your session has ended: sign in again." if expired else None
    if ctx.loopback and not tokens.has_tokens(ctx.connection):
        note = "No API token exists yet: on this loopback address anyone may look without signing in."
    return render("login.html", who=None, error=None, note=note)


@router.post(LOGIN)
async def login(request: Request) -> Response:
    ctx = context(request)
    form = await read_form(request)
    presented = form.get("token", "").strip()
    owner = await run_in_threadpool(tokens.authenticate, ctx.connection, presented) if presented else None
    if owner is None:
        async with request.app.state.web_sign_in_failures:
            await asyncio.sleep(FAILED_SIGN_IN_DELAY)
        error = "That token is not valid (mistyped, or revoked)." if presented else "Paste a token first."
        return render("login.html", status=401, who=None, error=error, note=None)
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
    ctx = context(request)
    session = await run_in_threadpool(who, request)
    check(session, await read_form(request), "viewer")
    await run_in_threadpool(close_session, ctx.connection, request.cookies.get(COOKIE))
    response = RedirectResponse(LOGIN, status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


# --- the overview --------------------------------------------------------------------------------


@router.get(BASE)
def overview(request: Request) -> Response:
    session = who(request)
    ctx = context(request)
    data = read_overview(ctx.connection, ctx.settings)
    return render("overview.html", who=session, can_act=session.allows("operator"), data=data)


@router.get(f"{BASE}/fragments/overview")
def overview_fragment(request: Request) -> Response:
    session = who(request)
    ctx = context(request)
    data = read_overview(ctx.connection, ctx.settings)
    return render(
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
        raise Refused(404, f"no action {action!r} on a queue", "pause or resume")
    await run_action(
        request, "operator", lambda connection, settings: actions[action](connection, settings, queue)
    )
    return RedirectResponse(f"{BASE}#queue-{quote(queue)}", status_code=303)


# --- wiring --------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Add the dashboard's routes, its static files and its error pages to `app`."""
    app.include_router(router)
    app.include_router(dlq_pages.router)
    app.include_router(jobs_pages.router)  # the queue and job pages
    app.include_router(ops_pages.router)  # schedules, alerts, audit
    app.state.web_sign_in_failures = (
        asyncio.Lock()
    )  # failed sign-ins wait in turn: parallel guesses gain nothing
    app.mount(f"{BASE}/static", StaticFiles(directory=HERE / "static"), name="web-static")

    @app.exception_handler(SignInNeeded)
    async def sign_in(request: Request, exc: SignInNeeded) -> Response:
        target = f"{LOGIN}?expired=1" if exc.expired else LOGIN
        if request.method == "GET" and request.url.path != f"{BASE}/fragments/overview":
            return RedirectResponse(target, status_code=303)
        # the page's script, or a form posted after the session ended: 401, and where to sign in
        return render(
            "error.html",
            status=401,
            headers={"X-Jobctl-Sign-In": target},
            who=None,
            message="You are not signed in (or your session has ended).",
            hint=None,
            link=target,
        )

    @app.exception_handler(Refused)
    async def refused(_request: Request, exc: Refused) -> Response:
        return render(
            "error.html", status=exc.status, who=None, message=exc.message, hint=exc.hint, link=BASE
        )
