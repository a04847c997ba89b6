"""jobctl payments sandbox"""

from __future__ import annotations

import signal
import sys
import threading

import typer

from jobctl.cli.common import JsonOption, emit_json, new_app, state
from jobctl.errors import UsageError

app = new_app("Payments: a sandbox provider to charge sample payments through.")


@app.command("sandbox")
def sandbox(
    ctx: typer.Context,
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to listen on (keep it on loopback: the sandbox's credentials are public test values).",
    ),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port to listen on (0: any free port)."),
    as_json: bool = JsonOption,
) -> None:
    """Run the payment sandbox (fake Stripe, YooKassa and crypto APIs) until Ctrl+C or SIGTERM.

    Prints the settings that point jobctl at it (KEY=value lines, or --json); start workers with
    them to charge `jobctl db seed` payments. Refs ending in _decline_<reason> are declined."""
    # lazy: the sandbox's HTTP server modules, ~20 ms of start-up for every other command
    from jobctl.jobs.payments.sandbox import SandboxProviders, environment, serve_in_thread, store_lookup

    settings = state(ctx).settings
    try:
        server = SandboxProviders(host, port, lookup=store_lookup(settings))
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            "pick another --port (0 takes any free one)",
        ) from None
    stop = serve_in_thread(server)
    settings_out = environment(server.url)
    if as_json:
        emit_json({"url": server.url, "environment": settings_out})
    else:
        sys.stdout.write("".join(f"{name}={value}\n" for name, value in settings_out.items()))
    sys.stdout.flush()  # a parent reading the settings must see them before the sandbox exits
    sys.stderr.write(
        f"jobctl: payment sandbox on {server.url} (captures at {server.url}/sandbox/captures); Ctrl+C stops\n"
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    captured = len(server.captures)
    sys.stderr.write(f"jobctl: payment sandbox stopped ({captured} capture{'s' if captured != 1 else ''})\n")
