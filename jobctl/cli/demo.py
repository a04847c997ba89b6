"""jobctl demo"""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from jobctl.cli.common import JsonOption, emit_json, state, stderr, stdout
from jobctl.core.demo import run_demo


def demo(
    ctx: typer.Context,
    campaign: int = typer.Option(300, "--campaign", min=1, max=100_000, help="Recipients of the bulk campaign."),
    concurrency: int = typer.Option(2, "--concurrency", "-c", min=1, max=32, help="Worker processes."),
    as_json: bool = JsonOption,
) -> None:
    """Start workers, run a realistic batch of jobs (emails incl. a bulk campaign, analytics roll-ups, the
    daily and weekly reports; an empty data store is seeded first), print a summary."""
    settings = state(ctx).settings
    with Progress(TextColumn("[bold]demo[/bold] {task.fields[failed]} failed"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=stderr, disable=as_json, transient=True) as progress:
        task = progress.add_task("jobs", total=None, failed=0)

        def show(p: dict) -> None:
            progress.update(task, total=p["total"], completed=p["done"], failed=p["failed"])

        result = run_demo(settings, campaign_size=campaign, concurrency=concurrency, on_progress=show)
    summary = {"enqueued": result.enqueued, "completed": result.completed, "failed": result.failed,
               "elapsed_seconds": round(result.elapsed, 2), "jobs_per_second": round(result.throughput, 1),
               "by_template": result.by_template, "outbox": result.outbox, "server": result.server,
               "reports": result.reports, "seeded_rows": result.seeded_rows}
    if as_json:
        emit_json(summary)
    else:
        table = Table("job", "count", box=None, title="jobctl demo", title_justify="left")
        for name, count in result.by_template.items():
            table.add_row(name, f"{count:,}")
        stdout.print(table)
        stdout.print(f"{result.completed:,} of {result.enqueued:,} jobs completed, {result.failed} failed, "
                     f"in {result.elapsed:.1f} s ({result.throughput:,.0f} jobs/s) on the {result.server} server",
                     highlight=False)
        if result.seeded_rows:
            stdout.print(f"seeded the empty data store with {result.seeded_rows:,} rows of sample data",
                         highlight=False)
        stdout.print(f"emails written to {result.outbox}", highlight=False)
        stdout.print(f"reports written to {result.reports}", highlight=False)
    if result.completed != result.enqueued:
        raise typer.Exit(1)
