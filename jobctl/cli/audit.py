"""jobctl audit list"""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Column, Table

from jobctl.cli.common import JsonOption, emit_json, new_app, state, stdout
from jobctl.core import audit

app = new_app("The audit log: every change made to jobs, queues, schedules, tokens and keys, by whom.")


@app.command("list")
def list_(
    ctx: typer.Context,
    since: Optional[str] = typer.Option(None, "--since", help="Only entries newer than 15m, 1h, 7d or an ISO time."),
    actor: Optional[str] = typer.Option(None, "--actor", help="Only this actor (OS user or token name)."),
    action: Optional[str] = typer.Option(None, "--action", help="Only this action, e.g. queue.clear, dlq.replay."),
    face: Optional[str] = typer.Option(None, "--face", help=f"Only this face: {', '.join(audit.FACES)}."),
    limit: int = typer.Option(100, "--limit", "-n", help="Show at most this many (newest first)."),
    as_json: bool = JsonOption,
) -> None:
    """Recorded changes, newest first: time, actor, face, action, target, filters, count, outcome."""
    st = state(ctx)
    entries = audit.list_entries(st.connection, since=audit.parse_since(since), actor=actor, action=action,
                                 face=face, limit=limit)
    if as_json:
        emit_json({"entries": entries})
        return
    if not entries:
        stdout.print("no audit entries" + (" match" if since or actor or action or face else ""), highlight=False)
        return
    table = Table(Column("time (UTC)", no_wrap=True), "actor", "face", Column("action", no_wrap=True), "target",
                  Column("count", justify="right"), "outcome", box=None, pad_edge=False)
    for e in entries:
        outcome = e["outcome"] if not e["error"] else f"{e['outcome']}: {e['error']}"
        target = e["target"] if len(e["target"]) <= 24 else e["target"][:23] + "…"
        table.add_row(e["time"][:19].replace("T", " "), e["actor"], e["face"], e["action"], target,
                      "-" if e["count"] is None else str(e["count"]), outcome)
    stdout.print(table)
