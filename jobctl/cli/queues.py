"""jobctl queue list|show|pause|resume"""

from __future__ import annotations

import typer
from rich.table import Table

from jobctl.cli import completion
from jobctl.cli.common import JsonOption, emit_json, new_app, state, stdout
from jobctl.core.browse import queue_jobs
from jobctl.core.catalog import DEAD_LETTER, queue_catalog
from jobctl.core.ops import pause_queue, resume_queue
from jobctl.core.stats import STATES

app = new_app("Inspect, pause and resume queues.")


QueueArgument = typer.Argument(..., help="Queue name.", autocompletion=completion.QUEUE)


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """The queue catalogue with each queue's policy."""
    settings = state(ctx).settings
    rows = [{"queue": p.name, **p.describe()} for p in queue_catalog(settings).values()]
    if as_json:
        emit_json({"queues": rows})
        return
    table = Table("queue", "prio", "tries", "timeout", "keep ok/failed", "backoff", box=None)
    for r in rows:
        b = r["backoff"]
        if not b:
            backoff = "-"
        elif b["kind"] == "fixed":
            backoff = f"fixed {_duration(b['base'])}"
        elif b["kind"] == "list":
            backoff = ",".join(_duration(d) for d in b["delays_list"])
        else:
            backoff = f"{_duration(b['base'])} x{b['factor']:g} max {_duration(b['cap'])}"
        if b:
            backoff += {True: " ~", "equal": " ~", "full": " ~~"}.get(b["jitter"], "")
        keep = "/".join("all" if r[k] is None else str(r[k]) for k in ("keep_completed", "keep_failed"))
        table.add_row(
            r["queue"],
            r["priority"] or "-",
            str(r["attempts"]),
            _duration(r["timeout"]) if r["timeout"] else "-",
            keep,
            backoff,
        )
    stdout.print(table)
    stdout.print("~ equal jitter, ~~ full jitter", style="dim")


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


@app.command("show")
def show(
    ctx: typer.Context,
    name: str = QueueArgument,
    job_state: str | None = typer.Option(
        None,
        "--state",
        "-s",
        help=f"One of {', '.join(STATES)} (default: waiting; for dead-letter: failed, its entries).",
    ),
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=1000, help="Jobs per page."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many (see next_offset)."),
    as_json: bool = JsonOption,
) -> None:
    """One page of a queue's jobs in one state, high priority first. The dead-letter queue shows its
    entries (as `jobctl dlq list`)."""
    st = state(ctx)
    page = queue_jobs(st.connection, st.settings, name, job_state, offset, limit)
    if as_json:
        emit_json(page)
        return
    stdout.print(f"{page['queue']} {page['state']}: {page['total']:,} job(s)", highlight=False)
    if page["jobs"] and page["queue"] == DEAD_LETTER:  # which queue each died on, and when
        table = Table("id", "type", "from", "died (UTC)", box=None)  # whole ids in 80 columns
        for j in page["jobs"]:
            table.add_row(j["id"], j["type"], j["queue"], _when(j["ended_at"]))
        stdout.print(table)
    elif page["jobs"]:
        scheduled = page["state"] == "scheduled"  # their enqueued time is not when they run
        table = Table(
            "id", "type", "prio", "tries", "runs at (UTC)" if scheduled else "enqueued (UTC)", box=None
        )
        for j in page["jobs"]:
            tries = j["attempts"]  # made/allowed; retries left in --json and `jobctl job show`
            table.add_row(
                j["id"],
                j["type"],
                j["priority"] or "-",
                f"{tries['made']}/{tries['allowed'] or '-'}",
                _when(j.get("runs_at") if scheduled else j["enqueued_at"]),
            )
        stdout.print(table)
    if page["next_offset"] is not None:
        stdout.print(
            f"more: jobctl queue show {name} --state {page['state']} --offset {page['next_offset']}",
            highlight=False,
        )


def _when(iso: str | None) -> str:
    return (iso or "")[5:19].replace("T", " ")


@app.command("pause")
def pause(ctx: typer.Context, name: str = QueueArgument, as_json: bool = JsonOption) -> None:
    """Workers stop taking this queue's jobs (every priority); running jobs finish."""
    st = state(ctx)
    _toggled(pause_queue(st.connection, st.settings, name), as_json)


@app.command("resume")
def resume(ctx: typer.Context, name: str = QueueArgument, as_json: bool = JsonOption) -> None:
    """Workers take this queue's jobs again."""
    st = state(ctx)
    _toggled(resume_queue(st.connection, st.settings, name), as_json)


def _toggled(result: dict, as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    now = "paused" if result["paused"] else "running"
    stdout.print(
        f"{result['queue']}: {now}" + ("" if result["changed"] else f" (already {now})"), highlight=False
    )
