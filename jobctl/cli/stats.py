"""jobctl stats"""

from __future__ import annotations

import time
from typing import Optional

import typer
from rich.live import Live
from rich.table import Table

from jobctl.cli.common import JsonOption, emit_json, state, stdout
from jobctl.core.stats import STATES, queue_stats

HEADERS = ("waiting", "active", "sched", "done", "failed", "workers")


def _table(data: dict) -> Table:
    table = Table("queue", "prio", *HEADERS, box=None, title_justify="left",
                  title=f"dead-letter: {data['dead_letter']:,}")
    for q in data["queues"]:
        table.add_row(q["queue"], "", *(f"{q['totals'][s]:,}" for s in STATES), str(q["workers"]),
                      style="bold")
        for prio, counts in q["priorities"].items():
            if any(counts.values()):
                table.add_row("", prio, *(f"{counts[s]:,}" for s in STATES), "")
    return table


def stats(
    ctx: typer.Context,
    queue: Optional[str] = typer.Option(None, "--queue", "-q", help="Only this queue."),
    watch: bool = typer.Option(False, "--watch", "-w", help="Refresh every --interval seconds until Ctrl+C."),
    interval: float = typer.Option(1.0, "--interval", min=0.2, help="Seconds between refreshes with --watch."),
    as_json: bool = JsonOption,
) -> None:
    """Counts per queue and priority: waiting, active, scheduled, completed, failed; workers; dead-letter."""
    st = state(ctx)
    if as_json and not watch:  # with --watch: one JSON document per line per refresh
        emit_json(queue_stats(st.connection, st.settings, queue))
        return
    if not watch:
        stdout.print(_table(queue_stats(st.connection, st.settings, queue)))
        return
    try:
        if as_json:
            while True:
                emit_json(queue_stats(st.connection, st.settings, queue), compact=True)
                time.sleep(interval)
        with Live(_table(queue_stats(st.connection, st.settings, queue)), console=stdout,
                  auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                live.update(_table(queue_stats(st.connection, st.settings, queue)), refresh=True)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
