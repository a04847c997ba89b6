"""jobctl metrics"""

from __future__ import annotations

import typer

from jobctl.cli.common import state
from jobctl.core.prometheus import render


def metrics(ctx: typer.Context) -> None:
    """Counts, outcomes and time histograms in the Prometheus text format (for a scraper or a textfile)."""
    st = state(ctx)
    typer.echo(render(st.connection, st.settings), nl=False)
