"""jobctl server status|start|stop: the embedded Redis-compatible server."""

from __future__ import annotations

import typer

from jobctl.cli.common import JsonOption, emit_json, new_app, state, stdout
from jobctl.core import embedded
from jobctl.core.connection import embedded_maxmemory, is_sentinel, redis_url, sentinel_master

app = new_app("Manage jobctl's embedded Redis-compatible server (used when REDIS_URL is unset).")


def _render(info: dict, as_json: bool, note: str | None = None) -> None:
    if as_json:
        emit_json(info)
        return
    if note:
        stdout.print(note)
    running = "running" if info.get("running") else "stopped"
    stdout.print(f"server: {running}")
    if info.get("url"):  # what `rq info -u URL` and rq-dashboard take
        stdout.print(f"  url: {info['url']}", highlight=False, soft_wrap=True)
    if info.get("sentinel"):  # which server the Sentinels name as master right now
        watched = info["sentinel"]
        where = watched["address"] or f"unknown: {watched.get('error')}"
        stdout.print(f"  master {watched['master']}: {where}", highlight=False, soft_wrap=True)
        stdout.print(f"  sentinels: {', '.join(watched['sentinels'])}", highlight=False, soft_wrap=True)
    for key in ("pid", "version", "allocator", "maxmemory", "socket", "home", "data_size", "binary", "log"):
        if info.get(key) is not None:
            value = f"{info[key]:,} bytes" if key in ("data_size", "maxmemory") else info[key]
            if key == "maxmemory" and info[key] == 0:
                value = "none (JOBCTL_EMBEDDED_MAXMEMORY=0)"
            stdout.print(f"  {key}: {value}", highlight=False, soft_wrap=True)


@app.command("status")
def status(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Is the embedded server running? The URL other RQ tools take (rq info -u URL), pid, socket, version,
    data size."""
    settings = state(ctx).settings
    info = embedded.status(settings.home_path)
    # the server jobctl uses, as `rq info -u` and rq-dashboard take it (a password stays masked)
    info["url"] = redis_url(settings)
    if is_sentinel(settings):
        info["sentinel"] = sentinel_master(settings)
        info["note"] = "REDIS_URL names Sentinels: jobctl uses the master they name, not the embedded server"
    elif settings.redis_url:
        info["note"] = "REDIS_URL is set: jobctl uses that server, not the embedded one"
    _render(info, as_json, info.get("note"))


@app.command("start")
def start(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Start the embedded server; a running one takes the current JOBCTL_EMBEDDED_MAXMEMORY."""
    settings = state(ctx).settings
    embedded.check_host(settings.home_path, settings.host_name)
    info = embedded.start(settings.home_path, embedded_maxmemory(settings))
    embedded.record_host(settings.home_path, settings.host_name)
    _render(info, as_json)


@app.command("stop")
def stop(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Stop the embedded server; its data stays in the state folder."""
    home = state(ctx).settings.home_path
    stopped = embedded.stop(home)
    info = embedded.status(home) | {"stopped": stopped}
    _render(
        info, as_json, "stopped the embedded server" if stopped else "the embedded server was not running"
    )
