"""jobctl serve"""

from __future__ import annotations

import ipaddress
import sys

import typer

from jobctl.cli.common import state
from jobctl.core import logs, tokens
from jobctl.errors import UsageError

EXTRA_MISSING = "the HTTP API needs the http extra: pip install 'jobctl[http]'"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(
        None,
        "--host",
        help="Address to listen on (default JOBCTL_HTTP_HOST, 127.0.0.1). Non-loopback needs API tokens.",
    ),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="Port to listen on (default JOBCTL_HTTP_PORT, 8080)."
    ),
) -> None:
    """Run the HTTP API and the web dashboard at /admin/jobs (needs the http extra): the CLI's reads and
    actions, behind API tokens (bearer for the API, a sign-in session for the dashboard)."""
    try:  # lazy: the optional http extra (FastAPI, uvicorn), ~800 ms when installed
        import uvicorn

        from jobctl.http import create_app
    except ImportError:
        raise UsageError(EXTRA_MISSING) from None
    st = state(ctx)
    settings = st.settings
    host = host or settings.http_host
    port = port or settings.http_port
    loopback = is_loopback(host)
    connection = st.connection
    if not tokens.has_tokens(connection):
        if not loopback:
            raise UsageError(
                f"refusing to serve on {host} with no API tokens: anyone who can reach it could "
                "read every job",
                "jobctl token create NAME --role admin",
            )
        sys.stderr.write(
            "jobctl: no API tokens yet: requests without a token may read (viewer, actor "
            '"anonymous") until one is created; nothing can be changed\n'
        )
    app = create_app(settings, connection, loopback=loopback)
    shown = f"[{host}]" if ":" in host else host
    sys.stderr.write(
        f"jobctl: serving the HTTP API on http://{shown}:{port} (docs at /docs, dashboard at /admin/jobs); "
        "Ctrl+C stops\n"
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=logs.serve_log_config(uvicorn.config.LOGGING_CONFIG, settings.log_level),
        server_header=False,
    )
