"""jobctl metrics"""

from __future__ import annotations

import typer

from jobctl.cli.common import state


def metrics(ctx: typer.Context) -> None:
    """Counts, outcomes and time histograms in the Prometheus text format (for a scraper or a textfile)."""
    # lazy: prometheus_client, ~20 ms of start-up for every other command
    from jobctl.core.prometheus import render

    st = state(ctx)
    typer.echo(render(st.connection, st.settings), nl=False)
