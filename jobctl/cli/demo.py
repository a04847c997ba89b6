"""jobctl demo"""

from __future__ import annotations

import typer
from rich.table import Table

from jobctl.cli.common import JsonOption, emit_json, state, stdout
from jobctl.cli.progress import progress_bar
from jobctl.demo import DemoResult, run_demo


def _summary(result: DemoResult) -> dict:
    return {
        "enqueued": result.enqueued,
        "jobs": result.jobs,
        "completed": result.completed,
        "failed": result.failed,
        "elapsed_seconds": round(result.elapsed, 2),
        "jobs_per_second": round(result.throughput, 1),
        "by_template": result.by_group,
        "queues": {**result.queues, "dead-letter": result.dead_letter},
        "server": result.server,
        "namespace": result.namespace,
        "keys_removed": result.keys_removed,
        "folder": result.folder,
        "outbox": result.outbox,
        "uploads": result.uploads,
        "storage": result.storage,
        "reports": result.reports,
        "seeded_rows": result.seeded_rows,
    }


def _print(result: DemoResult) -> None:
    table = Table(
        "queue",
        "jobs",
        "completed",
        "retried",
        "dead-lettered",
        box=None,
        title="jobctl demo",
        title_justify="left",
    )
    for name, q in result.queues.items():
        table.add_row(name, *(f"{q[k]:,}" for k in ("enqueued", "completed", "retried", "dead")))
    dead = result.dead_letter
    table.add_row(
        "dead-letter",
        f"{dead['dead_lettered']:,}",
        f"{dead['replayed']:,} replayed",
        "",
        f"{dead['left']:,} left",
    )
    stdout.print(table)
    stdout.print(
        f"{result.completed:,} of {result.jobs:,} jobs completed, {result.failed} failed, "
        f"in {result.elapsed:.1f} s ({result.throughput:,.0f} jobs/s) "
        f"on the {result.server} server, "
        f"in key namespace {result.namespace} ({result.keys_removed:,} keys removed after)",
        highlight=False,
    )
    if result.seeded_rows:
        stdout.print(
            f"the demo's own data store was seeded with {result.seeded_rows:,} rows of sample data "
            "(removed after)",
            highlight=False,
        )
    stdout.print(f"emails (outbox)   {result.outbox}", highlight=False)
    stdout.print(f"sample uploads    {result.uploads}", highlight=False)
    stdout.print(f"processed images  {result.storage}", highlight=False)
    stdout.print(f"reports           {result.reports}", highlight=False)


def demo(
    ctx: typer.Context,
    campaign: int = typer.Option(
        300, "--campaign", min=1, max=100_000, help="Recipients of the bulk campaign."
    ),
    concurrency: int = typer.Option(2, "--concurrency", "-c", min=1, max=32, help="Worker processes."),
    as_json: bool = JsonOption,
) -> None:
    """Run a marketplace's day of jobs on all 8 queues with real workers (emails incl. a bulk campaign,
    product images, analytics roll-ups, payment retries, referral commissions, both reports, uploads that
    dead-letter and are replayed), in a key namespace of its own, then print a summary. Mail goes to an
    outbox and payments to a sandbox whatever the settings say; outputs go to demo/ in the state folder."""
    settings = state(ctx).settings
    label = "[bold]demo[/bold] {task.description}, {task.fields[failed]} in dead-letter"
    with progress_bar(label, as_json=as_json, stage="starting", failed=0) as bar:

        def show(p: dict) -> None:
            bar.update(p["done"], p["total"] or None, p["stage"], failed=p["failed"])

        result = run_demo(settings, campaign_size=campaign, concurrency=concurrency, on_progress=show)
    if as_json:
        emit_json(_summary(result))
    else:
        _print(result)
    if not result.ok:
        raise typer.Exit(1)
