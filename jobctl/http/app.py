"""create_app(settings): the FastAPI application `jobctl serve` runs (and tests drive in process)."""

from __future__ import annotations

from typing import Any

import redis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from jobctl import __version__
from jobctl.config import Settings
from jobctl.core.connection import connect
from jobctl.core.jobtypes import JOB_TYPES, TEST_ONLY
from jobctl.http import errors
from jobctl.http.context import ApiContext
from jobctl.http.limits import BodyLimits
from jobctl.http.routes import metrics_router, router
from jobctl.web import install as install_web

DESCRIPTION = """\
The jobctl HTTP API: the same data and actions as the CLI's `--json`, for dashboards and scripts.

Send `Authorization: Bearer <token>` with a token from `jobctl token create NAME --role ROLE`.
Roles: viewer (reads) < operator (retry, schedule, pause/resume, cancel) < admin (clear, delete, purge,
schedule removal).
Errors are `{"error": {"code", "message", "hint"}}`.
"""
DOCS_ASSETS = "/docs-assets"  # where the Swagger UI and ReDoc files are served


def create_app(
    settings: Settings, connection: redis.Redis | None = None, *, loopback: bool = False
) -> FastAPI:
    """The API over `connection` (default: the configured server). `loopback`: the server listens only
    on a loopback address, so requests without a token may read while no token exists."""
    if connection is None:
        connection = connect(settings, check=False)
    # the docs pages load Swagger UI and ReDoc from files the package ships, not from a CDN: they work
    # offline and tell no third party who reads them
    app = FastAPIOffline(
        docs_url="/docs",
        redoc_url="/redoc",
        static_url=DOCS_ASSETS,
        title="jobctl",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        # otherwise Swagger UI sends the spec to its online validator
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.jobctl = ApiContext(settings, connection, loopback)
    errors.install(app)
    app.add_middleware(BodyLimits, max_bytes=settings.http_max_body, read_timeout=settings.http_read_timeout)

    @app.get(
        "/healthz",
        summary="Redis reachable? (no token needed)",
        responses={503: {"description": "Redis unreachable"}},
    )
    def healthz() -> Any:
        try:
            connection.ping()
        except redis.RedisError:
            return JSONResponse({"status": "unavailable", "redis": "unreachable"}, status_code=503)
        return {"status": "ok"}

    app.include_router(metrics_router)
    app.include_router(router)
    install_web(app)  # the web dashboard at /admin/jobs, over the same core calls
    if not settings.test_job_types:
        _offer_no_test_types(app)
    return app


def _offer_no_test_types(app: FastAPI) -> None:
    """The request models name every job type (one model for every deployment); a deployment without
    JOBCTL_TEST_JOB_TYPES does not advertise sleep, fail and flaky in its /openapi.json either."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _drop_test_types(build())  # build() keeps its result as app.openapi_schema
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _drop_test_types(node: Any) -> None:
    if isinstance(node, dict):
        enum = node.get("enum")
        if isinstance(enum, list) and set(JOB_TYPES) <= set(enum):  # a job-type enum, not another
            node["enum"] = [value for value in enum if value not in TEST_ONLY]
        for value in node.values():
            _drop_test_types(value)
    elif isinstance(node, list):
        for value in node:
            _drop_test_types(value)
