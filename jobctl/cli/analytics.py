"""jobctl analytics show|schedule-custom"""

from __future__ import annotations

import time
from datetime import date, datetime

import typer

from jobctl.api import schedule_custom_analytics
from jobctl.cli.common import JsonOption, emit_json, new_app, state, stdout
from jobctl.cli.progress import progress_bar, summary, summary_text
from jobctl.core.jobtypes import get_job_type
from jobctl.core.submit import prepare
from jobctl.errors import UsageError

app = new_app("Analytics roll-ups: backfill periods, read what is stored.")

TypeOption = typer.Option(..., "--type", "-t", help="hourly, daily, weekly or monthly.")
FromOption = typer.Option(..., "--from", help="First day, YYYY-MM-DD (UTC).")
ToOption = typer.Option(None, "--to", help="Last day, inclusive (default: the --from day).")
MetricsOption = typer.Option(
    None,
    "--metrics",
    "-m",
    help="Comma-separated: page_views, unique_visitors, "
    "purchases, revenue, conversion_rate, "
    "average_order_value (default: all).",
)


def parse_day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{flag} {text!r} is not a date", f"use YYYY-MM-DD, e.g. {flag} 2024-01-31"
        ) from None


def day_span(from_: str, to: str | None) -> tuple[date, date]:
    first = parse_day(from_, "--from")
    return first, parse_day(to, "--to") if to else first


@app.command("schedule-custom")
def schedule_custom(
    ctx: typer.Context,
    kind: str = TypeOption,
    from_: str = FromOption,
    to: str | None = ToOption,
    metrics: str | None = MetricsOption,
    as_json: bool = JsonOption,
) -> None:
    """Enqueue one roll-up job per period between --from and --to (a backfill)."""
    span = day_span(from_, to)
    st = state(ctx)
    # bad input is reported before a progress bar starts
    prepare(st.settings, "analytics", {"type": kind, "start": span[0], "end": span[1], "metrics": metrics})
    st.install_runtime()
    started = time.perf_counter()
    with progress_bar(as_json=as_json, stage="validating") as bar:
        ids = schedule_custom_analytics(kind, *span, metrics, on_progress=bar.update)
    elapsed = time.perf_counter() - started
    if as_json:
        emit_json({"job_ids": ids, **summary(len(ids), elapsed), "type": kind})
        return
    where = get_job_type("analytics").queue
    typer.echo(f"enqueued {len(ids):,} {kind} roll-up jobs on {where} {summary_text(len(ids), elapsed)}")


def _cell(metric: str, value) -> str:
    if value is None:
        return "-"
    if metric == "conversion_rate":
        return f"{value * 100:.2f}%"
    if metric in ("revenue", "average_order_value"):
        return f"{value / 100:,.2f}"
    return f"{int(value):,}"


@app.command("show")
def show(
    ctx: typer.Context,
    kind: str = TypeOption,
    from_: str = FromOption,
    to: str | None = ToOption,
    metrics: str | None = MetricsOption,
    as_json: bool = JsonOption,
) -> None:
    """The stored roll-ups of periods starting between --from and --to (money in currency units)."""
    # lazy: SQLAlchemy, ~200 ms of start-up for every other command
    from jobctl.jobs.analytics.job import stored_rollups

    st = state(ctx)
    rows, names = stored_rollups(st.settings, kind, day_span(from_, to), metrics)
    if as_json:
        emit_json(
            {
                "type": kind,
                "metrics": names,
                "rows": [
                    {**{k: (v.isoformat() if isinstance(v, datetime) else str(v)) for k, v in row.items()}}
                    for row in rows
                ],
            }
        )
        return
    if not rows:
        stdout.print(
            f"no {kind} roll-ups stored for that range (enqueue some: jobctl analytics schedule-custom)"
        )
        return
    from rich.table import Table  # lazy: Rich only for the table (`enqueue analytics` imports this module)

    table = Table("period", *names, box=None, pad_edge=False)
    for row in rows:
        table.add_row(
            row["period_start"].strftime("%Y-%m-%d %H:%M" if kind == "hourly" else "%Y-%m-%d"),
            *(_cell(m, row.get(m)) for m in names),
        )
    stdout.print(table)
