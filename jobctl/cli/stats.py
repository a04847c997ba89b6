"""jobctl stats"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer

from jobctl.cli import completion
from jobctl.cli.common import DURATION, JsonOption, emit_json, state, stdout
from jobctl.core.metrics import quantile_text
from jobctl.core.sizes import human_size
from jobctl.core.stats import STATES, parse_window, queue_stats, stats_with_window
from jobctl.durations import parse_seconds

if TYPE_CHECKING:
    from rich.table import Table

HEADERS = ("waiting", "active", "sched", "done", "failed", "workers")


def _table(data: dict) -> Table:
    from rich.table import Table  # lazy: Rich only when rendering (not for --json)

    table = Table(
        "queue",
        "prio",
        *HEADERS,
        box=None,
        title_justify="left",
        title=f"dead-letter: {data['dead_letter']:,}",
        caption=_audit_caption(data.get("audit")),  # the whole view only: not one queue's
        caption_justify="left",
    )
    for q in data["queues"]:
        table.add_row(
            q["queue"], "", *(f"{q['totals'][s]:,}" for s in STATES), str(q["workers"]), style="bold"
        )
        for prio, counts in q["priorities"].items():
            if any(counts.values()):
                table.add_row("", prio, *(f"{counts[s]:,}" for s in STATES), "")
    return table


def _audit_caption(size: dict | None) -> str | None:
    if size is None:
        return None
    text = f"audit log: {size['entries']:,} entries"
    if size["bytes"] is not None:
        text += f", {human_size(size['bytes'])}"
    if size["oldest"]:
        text += f", oldest {size['oldest'][:16].replace('T', ' ')} UTC"
    return text


def _window_table(data: dict, label: str) -> Table:
    from rich.table import Table  # lazy: Rich only when rendering (not for --json)

    # enqueued and retried are in --json; these columns fit 80 characters
    table = Table(
        "queue",
        "done",
        "fail",
        "dead",
        "err%",
        "/min",
        "p50",
        "p95",
        "p99",
        "wait95",
        box=None,
        title=f"last {label}",
        title_justify="left",
        padding=(0, 1, 0, 0),
    )
    table.columns[0].no_wrap = True
    for name, w in data["window"]["queues"].items():
        proc = w["processing_ms"]
        table.add_row(
            name,
            *(f"{w[k]:,}" for k in ("completed", "failed", "dead")),
            f"{w['error_rate'] * 100:.1f}",
            f"{w['throughput_per_minute']:g}",
            *(quantile_text(proc, name) for name in ("p50", "p95", "p99")),
            quantile_text(w["wait_ms"], "p95"),
        )
    return table


def stats(
    ctx: typer.Context,
    queue: str | None = typer.Option(
        None, "--queue", "-q", help="Only this queue.", autocompletion=completion.QUEUE
    ),
    window: str | None = typer.Option(
        None,
        "--window",
        metavar=DURATION,
        help="Also the metrics of the last 15m, 1h, 24h, 7d "
        "(up to 30d): outcomes, error rate, throughput, "
        "processing and wait percentiles.",
    ),
    watch: bool = typer.Option(False, "--watch", "-w", help="Refresh every --interval until Ctrl+C."),
    interval_text: str = typer.Option(
        "1s",
        "--interval",
        metavar=DURATION,
        help="Time between refreshes with --watch, e.g. 2s or 0.5 (seconds); at least 0.2s.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Counts per queue and priority: waiting, active, scheduled, completed, failed; workers; dead-letter;
    the audit log's size (entries, bytes, oldest entry)."""
    seconds = parse_window(window)
    interval = parse_seconds(interval_text, "--interval", minimum=0.2)
    st = state(ctx)
    if as_json and not watch:  # with --watch: one JSON document per line per refresh
        emit_json(stats_with_window(st.connection, st.settings, queue, seconds))
        return
    if not watch:
        data = stats_with_window(st.connection, st.settings, queue, seconds)
        stdout.print(_table(data))
        if seconds:
            stdout.print(_window_table(data, window))
        return
    try:
        if as_json:
            while True:
                emit_json(queue_stats(st.connection, st.settings, queue), compact=True)
                time.sleep(interval)
        from rich.live import Live  # lazy: Rich only when rendering (not for --json)

        with Live(
            _table(queue_stats(st.connection, st.settings, queue)), console=stdout.console, auto_refresh=False
        ) as live:
            while True:
                time.sleep(interval)
                live.update(_table(queue_stats(st.connection, st.settings, queue)), refresh=True)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
