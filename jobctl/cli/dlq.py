"""jobctl dlq list|groups|show|retry|purge"""

from __future__ import annotations

import json
import textwrap
import time

import typer

from jobctl.cli import completion
from jobctl.cli.common import (
    DURATION,
    JsonOption,
    confirm,
    emit_json,
    exit_partial,
    list_ids,
    new_app,
    state,
    stdout,
)
from jobctl.cli.progress import progress_bar, summary, summary_text
from jobctl.core import dlq
from jobctl.core.dlq_groups import check_fingerprint_id

app = new_app("The dead-letter queue: jobs that ran out of attempts.")

QueueFilter = typer.Option(
    None, "--queue", "-q", help="Only entries from this queue.", autocompletion=completion.QUEUE
)
SinceFilter = typer.Option(
    None, "--since", metavar=DURATION, help="Only entries that died within this long, e.g. 90s, 1h30m, 7d."
)
ErrorFilter = typer.Option(None, "--error-contains", help="Only entries whose error mentions TEXT.")
FingerprintFilter = typer.Option(
    None,
    "--fingerprint",
    "-f",
    metavar="ID",
    help="Only entries of this error group (its id from `jobctl dlq groups`).",
)
AllOption = typer.Option(False, "--all", help="Every entry matching the filters.")
DryRunOption = typer.Option(False, "--dry-run", help="Show what would happen; change nothing.")
YesOption = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")


@app.command("list")
def list_(
    ctx: typer.Context,
    queue: str | None = QueueFilter,
    since: str | None = SinceFilter,
    error_contains: str | None = ErrorFilter,
    fingerprint: str | None = FingerprintFilter,
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000, help="Entries per page."),
    cursor: str | None = typer.Option(None, "--cursor", help="next_cursor of the previous page."),
    as_json: bool = JsonOption,
) -> None:
    """Dead jobs, newest first, paged."""
    st = state(ctx)
    page = dlq.list_entries(
        st.connection,
        st.settings,
        queue=queue,
        since=since,
        error_contains=error_contains,
        fingerprint=fingerprint,
        limit=limit,
        cursor=cursor,
    )
    if as_json:
        emit_json(page)
        return
    if not page["entries"]:
        stdout.print("the dead-letter queue is empty" if not page["total"] else "no entries match")
        return
    # ids are copied from here into `dlq show/retry`, so they are never cut: the queue and the error
    # share what is left of the terminal and give way with an ellipsis
    rows = [
        (
            e["job_id"],
            e["queue"],
            str(e["attempt_count"]),
            (e["died_at"] or "")[5:19].replace("T", " "),
            f"{e['error_type']}: {e['error_message']}",
        )
        for e in page["entries"]
    ]
    header = ("job id", "queue", "tries", "died (UTC)", "error")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    room = stdout.width - widths[0] - widths[2] - widths[3] - 2 * (len(header) - 1)
    widths[1] = min(widths[1], max(8, room // 3))
    widths[4] = max(8, min(widths[4], 100, room - widths[1]))
    for row in (header, *rows):
        cells = [_fit(cell, width) for cell, width in zip(row, widths, strict=True)]
        stdout.print("  ".join(cells).rstrip(), highlight=False, markup=False, crop=False)
    if page["next_cursor"]:
        stdout.print(f"more: jobctl dlq list --cursor {page['next_cursor']}", highlight=False)


@app.command("groups")
def groups(
    ctx: typer.Context,
    queue: str | None = typer.Option(
        None,
        "--queue",
        "-q",
        help="Only groups with entries from this queue.",
        autocompletion=completion.QUEUE,
    ),
    since: str | None = typer.Option(
        None, "--since", metavar=DURATION, help="Count only entries that died within this long, e.g. 1h, 7d."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Dead jobs grouped by error fingerprint (the error with ids, numbers and addresses masked, status
    codes kept): count, first and last seen, queues; biggest group first."""
    st = state(ctx)
    result = dlq.groups(st.connection, st.settings, queue=queue, since=since)
    if as_json:
        emit_json(result)
        return
    if not result["groups"]:
        stdout.print("the dead-letter queue is empty" if not result["total_entries"] else "no group matches")
    else:
        # the id is copied into --fingerprint: never cut; the error text has a line of its own, whole
        header = ("fingerprint", "count", "first seen", "last seen", "queues")
        rows = [
            (
                g["fingerprint_id"],
                str(g["count"]),
                (g["first_seen"] or "")[5:19].replace("T", " "),
                (g["last_seen"] or "")[5:19].replace("T", " "),
                ", ".join(f"{q} {n}" for q, n in g["queues"].items()),
            )
            for g in result["groups"]
        ]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header[:4])]
        line = "  ".join(
            [
                header[0].ljust(widths[0]),
                header[1].rjust(widths[1]),
                *(h.ljust(w) for h, w in zip(header[2:4], widths[2:4], strict=True)),
                header[4],
            ]
        )
        stdout.print(line + "  (UTC)", highlight=False, markup=False)
        for row, group in zip(rows, result["groups"], strict=True):
            cells = [
                row[0].ljust(widths[0]),
                row[1].rjust(widths[1]),
                row[2].ljust(widths[2]),
                row[3].ljust(widths[3]),
                row[4],
            ]
            stdout.print("  ".join(cells), highlight=False, markup=False, crop=False, overflow="fold")
            wrapped = textwrap.fill(
                group["fingerprint"],
                width=max(40, stdout.width),
                initial_indent="  ",
                subsequent_indent="    ",
                break_on_hyphens=False,
            )
            stdout.print(wrapped, highlight=False, markup=False, crop=False, soft_wrap=True)
        stdout.print(
            f"{result['total_groups']} group(s); entries of one: jobctl dlq list --fingerprint ID",
            highlight=False,
        )
    if not result["backfill_done"]:
        stdout.print("older entries are still being grouped: counts may be short; run again", highlight=False)


def _fit(text: str, width: int) -> str:
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


@app.command("show")
def show(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., help="Job id."),
    reveal: bool = typer.Option(
        False, "--reveal", help="Show email addresses, card numbers and secrets unredacted."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Everything about one dead job: payload, every attempt, the last traceback, replays (personal data
    redacted)."""
    entry = dlq.get_entry(state(ctx).connection, job_id, reveal=reveal)
    if as_json:
        emit_json(entry)
        return
    for key in (
        "job_id",
        "state",
        "queue",
        "priority",
        "type",
        "attempt_count",
        "first_enqueued_at",
        "died_at",
        "worker",
        "error_type",
        "error_message",
    ):
        stdout.print(f"{key:<18} {entry.get(key)}", highlight=False, markup=False)
    stdout.print(
        f"{'payload':<18} {json.dumps(entry['payload'], default=str)}", highlight=False, markup=False
    )
    for attempt in entry["attempts"]:
        stdout.print(
            f"attempt {attempt.get('n')}: {attempt.get('outcome')} {attempt.get('started_at')} "
            f"{attempt.get('error_type') or ''} {attempt.get('error_message') or ''}",
            highlight=False,
            markup=False,
        )
    for replay in entry.get("replays", []):
        stdout.print(f"replayed {replay['at']} by {replay['by']}", highlight=False, markup=False)
    stdout.print("traceback:", highlight=False)
    stdout.out(entry["traceback"].rstrip(), highlight=False)


def _finish(result: dict, done_key: str, as_json: bool, verb: str) -> None:
    """Render a bulk result; exit 1 (4 if nothing was found at all) when some ids were unknown."""
    missing = result.get("not_found", [])
    if as_json:
        emit_json(result)
    elif result["dry_run"]:
        for e in result[f"would_{verb}"]:
            row = e if isinstance(e, str) else f"{e['job_id']}  {e['queue']}  {e['error_type']}"
            stdout.print(f"would {verb}: {row}", highlight=False)
        stdout.print(f"{len(result[f'would_{verb}'])} entr(ies) would be affected; nothing changed (dry run)")
    elif "elapsed_seconds" in result:
        took = summary_text(result["count"], result["elapsed_seconds"], "entries")
        stdout.print(f"{done_key}: {len(result[done_key]):,} {took}", highlight=False)
    else:
        stdout.print(f"{done_key}: {len(result[done_key])}", highlight=False)
    refused = result.get("refused", [])
    if missing or refused:
        done = result.get(done_key) or result.get(f"would_{verb}") or []
        problems = [f"no dead-letter entry for: {list_ids(missing)}"] if missing else []
        problems += [f"{r['id']}: {r['reason']}" for r in refused]
        exit_partial("; ".join(problems), nothing_done=not done and not refused)


@app.command("retry")
def retry(
    ctx: typer.Context,
    job_ids: list[str] | None = typer.Argument(None, help="Job ids to replay."),
    everything: bool = AllOption,
    queue: str | None = QueueFilter,
    since: str | None = SinceFilter,
    error_contains: str | None = ErrorFilter,
    fingerprint: str | None = FingerprintFilter,
    dry_run: bool = DryRunOption,
    yes: bool = YesOption,
    as_json: bool = JsonOption,
) -> None:
    """Replay dead jobs on their original queue and priority, same id, attempts reset."""
    dlq.parse_since(since)  # a bad --since or --fingerprint fails before the question
    check_fingerprint_id(fingerprint)
    st = state(ctx)
    if everything and not dry_run:
        confirm("Replay every matching dead-letter entry?", yes, as_json)
    with progress_bar(as_json=as_json or dry_run, stage="replaying") as bar:
        result = dlq.replay(
            st.connection,
            st.settings,
            job_ids,
            everything=everything,
            queue=queue,
            since=since,
            error_contains=error_contains,
            fingerprint=fingerprint,
            dry_run=dry_run,
            on_progress=bar.update,
        )
    _finish(result, "replayed", as_json, "replay")


@app.command("purge")
def purge(
    ctx: typer.Context,
    job_ids: list[str] | None = typer.Argument(None, help="Job ids to delete for good."),
    everything: bool = AllOption,
    queue: str | None = QueueFilter,
    since: str | None = SinceFilter,
    error_contains: str | None = ErrorFilter,
    fingerprint: str | None = FingerprintFilter,
    dry_run: bool = DryRunOption,
    yes: bool = YesOption,
    as_json: bool = JsonOption,
) -> None:
    """Delete dead-letter entries and their job data for good."""
    dlq.parse_since(since)  # a bad --since or --fingerprint fails before the question
    check_fingerprint_id(fingerprint)
    st = state(ctx)
    if not dry_run:
        confirm("Delete the matching dead-letter entries for good?", yes, as_json)
    started = time.perf_counter()
    with progress_bar(as_json=as_json or dry_run, stage="purging", unit="entries") as bar:
        result = dlq.purge(
            st.connection,
            st.settings,
            job_ids,
            everything=everything,
            queue=queue,
            since=since,
            error_contains=error_contains,
            fingerprint=fingerprint,
            dry_run=dry_run,
            on_progress=bar.update,
        )
    if not dry_run:  # the figures of clear's final line, for text and --json alike
        result = {**result, **summary(len(result["purged"]), time.perf_counter() - started)}
    _finish(result, "purged", as_json, "purge")
