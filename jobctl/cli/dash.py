"""jobctl dash: the Textual dashboard (Textual is imported only when the command runs)."""

from __future__ import annotations

import typer

from jobctl.cli.common import DURATION, state
from jobctl.durations import parse_seconds


def dash(
    ctx: typer.Context,
    refresh_text: str = typer.Option(
        "1s", "--refresh", metavar=DURATION, help="Time between refreshes, 0.2 (seconds) to 1m."
    ),
) -> None:
    """A live terminal dashboard: queues, workers, jobs, dead letters; retry, delete, clear, pause."""
    refresh = parse_seconds(refresh_text, "--refresh", minimum=0.2, maximum=60)
    settings = state(ctx).settings
    from jobctl.tui.app import DashApp  # lazy: Textual, ~300 ms of start-up for every other command

    DashApp(settings, refresh_seconds=refresh).run()
