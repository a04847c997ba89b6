"""jobctl clear | retry, and what the bulk job commands share (`job delete` uses it too)."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.table import Column, Table

from jobctl.cli import completion
from jobctl.cli.common import (
    MAX_LISTED,
    JsonOption,
    confirm,
    emit_json,
    exit_partial,
    list_ids,
    state,
    stdout,
)
from jobctl.cli.progress import progress_bar, summary, summary_text
from jobctl.core import ops


def finish_bulk(result: dict[str, Any], done_key: str, verb: str, as_json: bool) -> None:
    """Print a bulk result; exit 1 naming the ids that failed (4 when no id was found at all)."""
    done, missing, refused = result[done_key], result["not_found"], result["refused"]
    if as_json:
        emit_json(result)
    else:
        stdout.print(
            f"{verb} {len(done)} job(s)" + (f": {list_ids(done)}" if done else ""),
            highlight=False,
            markup=False,
        )
    if not missing and not refused:
        return
    problems = []
    if missing:
        problems.append(f"not found: {list_ids(missing)}")
    problems += [f"{r['id']}: {r['reason']}" for r in refused[:MAX_LISTED]]
    if len(refused) > MAX_LISTED:
        problems.append(f"and {len(refused) - MAX_LISTED} more refused")
    failed = len(missing) + len(refused)
    exit_partial(
        f"{failed} of {failed + len(done)} job(s) not {verb}: " + "; ".join(problems),
        nothing_done=not done and not refused,
    )


def clear(
    ctx: typer.Context,
    queue: str = typer.Argument(..., help="Queue name.", autocompletion=completion.QUEUE),
    job_state: str = typer.Option(
        "waiting", "--state", "-s", help=f"One of {', '.join(ops.CLEAR_STATES)}, all. Never active."
    ),
    priority: str | None = typer.Option(
        None,
        "--priority",
        "-p",
        help="Only this priority (high, normal, low).",
        autocompletion=completion.PRIORITY,
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; change nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = JsonOption,
) -> None:
    """Remove a queue's jobs in one state (or all) and delete their data."""
    st = state(ctx)
    if not dry_run and not yes:
        planned = ops.clear_queue(st.connection, st.settings, queue, job_state, priority, dry_run=True)
        what = "" if job_state == "all" else f"{job_state} "
        where = planned["queue"] + (f":{priority}" if priority else "")
        confirm(f"Delete {planned['total']:,} {what}job(s) of {where} for good?", yes, as_json)
    started = time.perf_counter()
    with progress_bar(as_json=as_json or dry_run, stage="clearing") as bar:
        result = ops.clear_queue(
            st.connection, st.settings, queue, job_state, priority, dry_run=dry_run, on_progress=bar.update
        )
    elapsed = time.perf_counter() - started
    if as_json:
        emit_json(result if dry_run else {**result, **summary(result["total"], elapsed)})
        return
    where = result["queue"] + (f":{result['priority']}" if result["priority"] else " (all priorities)")
    if dry_run:
        stdout.print(f"{where}: would remove {result['total']:,} job(s)", highlight=False, markup=False)
    else:
        stdout.print(
            f"{where}: removed {result['total']:,} job(s) {summary_text(result['total'], elapsed)}",
            highlight=False,
            markup=False,
        )
    table = Table("state", Column("jobs", justify="right"), box=None)
    for name, count in result["removed"].items():
        table.add_row(name, f"{count:,}")
    stdout.print(table)
    if result.get("kept_dead_letter"):
        stdout.print(
            f"kept {result['kept_dead_letter']:,} dead-lettered job(s) (see `jobctl dlq list`)",
            highlight=False,
            markup=False,
        )
    stdout.print(result["note"], style="dim", highlight=False, markup=False)


def retry(
    ctx: typer.Context,
    job_ids: list[str] = typer.Argument(..., help="Ids of failed or dead-lettered jobs."),
    queue: str | None = typer.Option(
        None,
        "--queue",
        "-q",
        help="Only if the job is in this queue (dead-letter: any dead job).",
        autocompletion=completion.QUEUE,
    ),
    as_json: bool = JsonOption,
) -> None:
    """Give jobs another go with fresh attempts: failed ones back on their queue, dead-lettered ones
    replayed from the dead-letter queue. Says per id what happened."""
    st = state(ctx)
    result = ops.retry_jobs(st.connection, st.settings, job_ids, queue=queue)
    if as_json:
        emit_json(result)
    else:
        for verb, done in (("retried", result["retried"]), ("replayed", result["replayed"])):
            what = "dead-lettered job(s)" if verb == "replayed" else "job(s)"
            if done:
                stdout.print(
                    f"{verb} {len(done)} {what}: {list_ids(done)}",
                    highlight=False,
                    markup=False,
                    soft_wrap=True,
                )
        if not result["retried"] and not result["replayed"]:
            stdout.print("retried 0 job(s)", highlight=False, markup=False)
    problems = [r for r in result["results"] if r["outcome"] in ("not_found", "refused")]
    if not problems:
        return
    done = len(result["retried"]) + len(result["replayed"])
    shown = [f"{r['id']}: {r['reason']}" for r in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        shown.append(f"and {len(problems) - MAX_LISTED} more")
    exit_partial(
        f"{len(problems)} of {len(problems) + done} job(s) not retried: " + "; ".join(shown),
        nothing_done=not done and not result["refused"],
    )
