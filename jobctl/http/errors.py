"""Every error the API returns has one shape: {"error": {"code", "message", "hint"}}, no traceback."""

from __future__ import annotations

import logging
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from jobctl.core.connection import permission_refused
from jobctl.core.limits import server_full
from jobctl.errors import (
    InvalidPayload,
    JobctlError,
    NotFound,
    RedisUnavailable,
    ServerFull,
    TooMany,
    UsageError,
)

log = logging.getLogger("jobctl.http")

DOCS_HINT = "see /docs for what this endpoint accepts"
BODY_HINT = "send one JSON object, UTF-8 encoded, as /docs shows for this endpoint"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
STATIC_METHODS = ("GET", "HEAD")  # all a mount serves: the docs' static files


class Unauthorized(JobctlError):
    kind = "unauthorized"


class Forbidden(JobctlError):
    kind = "forbidden"


class Conflict(JobctlError):
    """The request was understood but the job is in a state that refuses it (running, dead-lettered)."""

    kind = "conflict"


# most specific first: ConfigError is a UsageError; every JobctlError not listed is an operation
# the current state refused (e.g. a running job with no worker to stop it): 409
STATUSES: tuple[tuple[type[JobctlError], int], ...] = (
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (RedisUnavailable, 503),
    (ServerFull, 503),
    (TooMany, 413),
    (InvalidPayload, 422),
    (UsageError, 400),
    (JobctlError, 409),
)


def status_of(exc: JobctlError) -> int:
    return next(status for kind, status in STATUSES if isinstance(exc, kind))


def error_response(
    status: int, code: str, message: str, hint: str | None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The error as JSON; every error has a hint, the docs when nothing more specific is known."""
    return JSONResponse(
        {"error": {"code": code, "message": message, "hint": hint or DOCS_HINT}},
        status_code=status,
        headers=headers,
    )


def allowed_methods(request: Request) -> list[str]:
    """The methods some route answers at this request's path: Starlette's own 405 names only the first
    route that matches the path, while /api/jobs/{job_id} is both GET and DELETE, say."""
    # inside a mount the scope's root_path has grown by the mount's path: match from the app's own
    scope = {
        **request.scope,
        "root_path": request.scope.get("app_root_path", request.scope.get("root_path", "")),
    }
    allowed = set()
    for route in request.app.router.routes:
        for method in METHODS:
            if route.matches({**scope, "method": method})[0] is Match.FULL:
                # a mount matches every method; its static files answer only GET and HEAD
                allowed.update(STATIC_METHODS if isinstance(route, Mount) else (method,))
    return [method for method in METHODS if method in allowed]


def unreadable_body(cause: BaseException | None) -> str:
    """Why a JSON body could not be read: FastAPI says only "There was an error parsing the body"."""
    if isinstance(cause, UnicodeError):
        return "body is not valid UTF-8"
    if isinstance(cause, RecursionError):
        return "body is nested too deeply to read"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "body has a number with too many digits to read"
    return "body could not be read as JSON"


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _one_problem(error: dict[str, Any]) -> str:
    """'body.job_ids: field required' from one pydantic/FastAPI error."""
    loc = tuple(error.get("loc") or ())
    if error.get("type") == "json_invalid":
        position = f" at position {loc[1]}" if len(loc) > 1 else ""
        reason = (error.get("ctx") or {}).get("error")
        return "body is not valid JSON" + (f": {reason}" if reason else "") + position
    message = str(error.get("msg") or "invalid")
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message[:1].lower() + message[1:]
    return f"{_location(loc)}: {message}" if loc else message


def validation_message(errors: list[dict[str, Any]]) -> str:
    problems = list(dict.fromkeys(_one_problem(e) for e in errors))  # keeps order, drops repeats
    shown = "; ".join(problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return (shown + more).replace("\n", " ")


def install(app: FastAPI) -> None:
    @app.exception_handler(JobctlError)
    async def jobctl_error(_request: Request, exc: JobctlError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        return error_response(status_of(exc), exc.kind, exc.message, exc.hint, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", validation_message(list(exc.errors())), DOCS_HINT)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # the only 400 raised as an HTTPException: FastAPI could not read the body
            return error_response(400, "bad_request", unreadable_body(exc.__cause__), BODY_HINT)
        if exc.status_code == 405:
            allow = ", ".join(allowed_methods(request))
            return error_response(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; this path accepts {allow}",
                "see /docs for the endpoints and their methods",
                {"Allow": allow},
            )
        code = {404: "not_found"}.get(exc.status_code, "http_error")
        message = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
        hint = "see /docs for the endpoints" if exc.status_code == 404 else None
        return error_response(exc.status_code, code, message, hint, getattr(exc, "headers", None))

    @app.exception_handler(redis.ConnectionError)
    @app.exception_handler(redis.TimeoutError)
    async def redis_down(_request: Request, exc: redis.RedisError) -> JSONResponse:
        log.warning("Redis unavailable: %s", exc)
        return error_response(
            503,
            RedisUnavailable.kind,
            "lost the connection to Redis",
            "check the server (jobctl server status) and try again",
        )

    @app.exception_handler(redis.exceptions.NoPermissionError)
    async def redis_refused(_request: Request, exc: redis.exceptions.NoPermissionError) -> JSONResponse:
        # the server's ACL, not the caller: a 503 as for an unreachable Redis, the command named
        refused = permission_refused(exc)
        log.warning("%s", refused.message)
        return error_response(503, "redis_permission", refused.message, refused.hint)

    @app.exception_handler(redis.OutOfMemoryError)
    async def redis_full(request: Request, _exc: redis.OutOfMemoryError) -> JSONResponse:
        ctx = request.app.state.jobctl
        exc = server_full(ctx.connection, not ctx.settings.redis_url)
        return error_response(status_of(exc), exc.kind, exc.message, exc.hint)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # a bug: the traceback goes to the server's log (Starlette re-raises it there), never to the client
        return error_response(
            500,
            "internal",
            f"unexpected {type(exc).__name__}",
            "the server log has the details; please report it",
        )
