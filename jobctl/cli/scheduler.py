"""jobctl scheduler start|status"""

from __future__ import annotations

import typer

from jobctl.cli.common import JsonOption, emit_json, new_app, state, stdout
from jobctl.cli.workers import LogFormatOption, setup_logs
from jobctl.core.scheduler import Scheduler, scheduler_status

app = new_app("Run the recurring schedules (one active scheduler among many).")


@app.command("start")
def start(ctx: typer.Context, log_format: str | None = LogFormatOption) -> None:
    """Run schedules until SIGTERM/SIGINT. Start several (on several hosts): one is active, the rest
    stand by and take over within JOBCTL_SCHEDULER_LEASE seconds if it dies."""
    settings = state(ctx).settings
    setup_logs(settings, log_format)
    Scheduler(settings).run()


@app.command("status")
def status(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Which scheduler is active, and how long its lease has left."""
    info = scheduler_status(state(ctx).connection)
    if as_json:
        emit_json(info)
    elif info["active"]:
        stdout.print(
            f"active scheduler: {info['active']} (lease {info['lease_ms_left'] / 1000:.1f} s left)",
            highlight=False,
        )
    else:
        stdout.print("no active scheduler (start one: jobctl scheduler start)")
