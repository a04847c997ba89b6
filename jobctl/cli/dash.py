"""jobctl dash: the Textual dashboard (Textual is imported only when the command runs)."""

from __future__ import annotations

import typer

from jobctl.cli.common import state


def dash(
    ctx: typer.Context,
    refresh: float = typer.Option(1.0, "--refresh", min=0.2, max=60.0, help="Seconds between refreshes."),
) -> None:
    """A live terminal dashboard: queues, workers, jobs, dead letters; retry, delete, clear, pause."""
    settings = state(ctx).settings
    from jobctl.tui.app import DashApp

    DashApp(settings, refresh_seconds=refresh).run()
