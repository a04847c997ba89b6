"""jobctl enqueue email|email-bulk|noop"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from jobctl.cli.common import JsonOption, emit_json, new_app, parse_json_object, parse_key_values, state, stderr
from jobctl.api import add_bulk_email_jobs, add_email_job
from jobctl.core.enqueue import enqueue_many
from jobctl.errors import UsageError

app = new_app("Put jobs on queues.")

PriorityOption = typer.Option(None, "--priority", "-p", help="high, normal or low (default: the queue's).")


def _data(pairs: list[str], data_json: Optional[str]) -> dict:
    return {**parse_json_object(data_json), **parse_key_values(pairs)}


def _report(ids: list[str], as_json: bool, started: float, what: str) -> None:
    elapsed = time.perf_counter() - started
    if as_json:
        emit_json({"job_ids": ids, "count": len(ids), "elapsed_seconds": round(elapsed, 3)} if len(ids) != 1
                  else {"job_id": ids[0]})
    elif len(ids) == 1:
        typer.echo(ids[0])
    else:
        rate = len(ids) / elapsed if elapsed else 0
        typer.echo(f"enqueued {len(ids):,} {what} jobs in {elapsed:.2f} s ({rate:,.0f}/s)")


@app.command("email")
def email(
    ctx: typer.Context,
    to: list[str] = typer.Option(..., "--to", help="Recipient address (repeatable)."),
    template: str = typer.Option(..., "--template", "-t", help="Template name (see `jobctl email templates`)."),
    data: list[str] = typer.Option([], "--data", "-d", help="Template variable KEY=VALUE (repeatable)."),
    data_json: Optional[str] = typer.Option(None, "--data-json", help="Template variables as a JSON object."),
    attach: list[Path] = typer.Option([], "--attach", help="File to attach (repeatable)."),
    subject: Optional[str] = typer.Option(None, "--subject", help="Override the template's subject."),
    priority: Optional[str] = PriorityOption,
    as_json: bool = JsonOption,
) -> None:
    """Queue one templated email; prints the job id."""
    state(ctx).install_runtime()  # the API below then uses this invocation's flags and settings
    started = time.perf_counter()
    job_id = add_email_job(list(to), template, _data(data, data_json), attachments=list(attach), subject=subject,
                           priority=priority)
    _report([job_id], as_json, started, "email")


@app.command("email-bulk")
def email_bulk(
    ctx: typer.Context,
    template: str = typer.Option(..., "--template", "-t", help="Template name."),
    recipients: Path = typer.Option(..., "--recipients", help="CSV with an 'email' column; other columns are data."),
    data: list[str] = typer.Option([], "--data", "-d", help="Variable shared by every row, KEY=VALUE."),
    data_json: Optional[str] = typer.Option(None, "--data-json", help="Shared variables as a JSON object."),
    priority: Optional[str] = PriorityOption,
    as_json: bool = JsonOption,
) -> None:
    """One job per CSV row, validated first, then enqueued in pipelined batches."""
    from jobctl.jobs.email import read_recipients_csv

    state(ctx).install_runtime()  # the API below then uses this invocation's flags and settings
    started = time.perf_counter()
    rows = read_recipients_csv(recipients)
    if not rows:
        raise UsageError(f"{recipients} has no recipient rows", "add rows under the header line")
    with Progress(TextColumn("enqueueing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=stderr, transient=True, disable=as_json) as progress:
        task = progress.add_task("enqueue", total=len(rows))
        ids = add_bulk_email_jobs(rows, template, _data(data, data_json), priority=priority,
                                  on_batch=lambda n: progress.advance(task, n))
    _report(ids, as_json, started, "email")


@app.command("noop")
def noop(
    ctx: typer.Context,
    queue: str = typer.Option("email-sending", "--queue", "-q", help="Queue to put the no-op jobs on."),
    count: int = typer.Option(1, "--count", "-n", min=1, help="How many jobs."),
    priority: Optional[str] = PriorityOption,
    as_json: bool = JsonOption,
) -> None:
    """No-op jobs: smoke-test a queue and its workers end to end."""
    st = state(ctx)
    started = time.perf_counter()
    ids = enqueue_many(st.connection, st.settings, "noop", ({} for _ in range(count)), priority=priority,
                       queue=queue)
    _report(ids, as_json, started, "no-op")
