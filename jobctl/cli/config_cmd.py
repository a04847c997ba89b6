"""jobctl config show"""

from __future__ import annotations

import typer
from rich.table import Table

from jobctl.cli.common import JsonOption, emit_json, new_app, state, stdout
from jobctl.core.catalog import queue_catalog

app = new_app("Inspect configuration.")


@app.command("show")
def show(
    ctx: typer.Context,
    everything: bool = typer.Option(False, "--all", help="Every setting, also those at their defaults."),
    as_json: bool = JsonOption,
) -> None:
    """The settings changed from their defaults, where each came from, secrets masked (--all: every one;
    --json: every one, each with at_default)."""
    settings = state(ctx).settings
    # set by a flag, the environment, an env file or jobctl.toml; scripts read every one from --json
    rows = [row | {"at_default": row["source"] == "default"} for row in settings.describe()]
    queues = [
        {
            "queue": p.name,
            "priority": p.priority,
            "attempts": p.attempts,
            "backoff": None if not p.backoff else vars(p.backoff),
            "timeout": p.timeout,
            "keep_completed": p.keep_completed,
            "keep_failed": p.keep_failed,
            "completed_ttl": p.completed_ttl,
            "failed_ttl": p.failed_ttl,
            "source": settings.queue_source,
        }
        for p in queue_catalog(settings).values()
    ]
    if as_json:
        emit_json(
            {
                "settings": rows,
                "queues": queues,
                "env_file": settings.env_file,
                "config_file": settings.config_file,
            }
        )
        return
    shown = rows if everything else [row for row in rows if not row["at_default"]]
    table = Table("setting", "value", "source", title="jobctl settings", title_justify="left")
    for row in shown:
        table.add_row(f"{row['key']}\n[dim]{row['env']}[/dim]", str(row["value"]), row["source"])
    if shown:
        stdout.print(table)
    if not everything:
        stdout.print(f"{len(rows) - len(shown)} settings at their defaults; --all shows every one")
    stdout.print(f"queue policies: {settings.queue_source} (see `jobctl queue list`)")
