"""jobctl metrics"""

from __future__ import annotations

import typer

from jobctl.cli.common import state


def metrics(ctx: typer.Context) -> None:
    """Counts, outcomes and time histograms in the Prometheus text format (for a scraper or a textfile)."""
    # imported here: prometheus_client costs every other command ~20 ms of start-up
    from jobctl.core.prometheus import render

    st = state(ctx)
    typer.echo(render(st.connection, st.settings), nl=False)
