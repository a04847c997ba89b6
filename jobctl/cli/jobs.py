"""jobctl job show|search|delete|cancel|types"""

from __future__ import annotations

import json

import typer

from jobctl.cli import completion
from jobctl.cli.common import JsonOption, confirm, emit_json, new_app, state, stdout
from jobctl.cli.ops import finish_bulk
from jobctl.core.browse import job_detail
from jobctl.core.jobtypes import offered
from jobctl.core.ops import cancel_job, delete_jobs
from jobctl.core.search import SCAN_LIMIT, SEARCH_STATES, search_jobs
from jobctl.core.submit import describe_type
from jobctl.errors import NotFound

app = new_app("Inspect, search, cancel and delete jobs.")


RevealOption = typer.Option(
    False, "--reveal", help="Show email addresses, card numbers and secrets unredacted."
)


@app.command("show")
def show(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., help="Job id."),
    reveal: bool = RevealOption,
    as_json: bool = JsonOption,
) -> None:
    """Status, queue, priority, payload, attempts, timings, result or error (personal data redacted)."""
    st = state(ctx)
    job = job_detail(st.connection, st.settings, job_id, reveal=reveal)
    if as_json:
        emit_json(job)
        return
    width = max(len(k) for k in job)
    for key, value in job.items():
        if key == "attempts":
            stdout.print(
                f"{key:<{width}}  {value['made']} of {value['allowed'] or '-'}, "
                f"retries left {value['retries_left']}",
                highlight=False,
            )
            for a in value["history"]:
                error = f"  {a.get('error_type')}: {a.get('error_message')}" if a.get("error_type") else ""
                stdout.print(
                    f"{'':<{width}}  #{a.get('n')} {a.get('outcome')} {a.get('started_at')} "
                    f"{a.get('worker') or ''}{error}",
                    highlight=False,
                    markup=False,
                    soft_wrap=True,
                )
            continue
        if key == "replays":
            for r in value:
                stdout.print(
                    f"{'replayed':<{width}}  {r.get('at')} by {r.get('by')}", highlight=False, markup=False
                )
            continue
        if key in ("payload", "result") and value is not None:
            value = json.dumps(value, default=str)  # noqa: PLW2901 - the loop prints it as text
        if key == "error" and value:
            stdout.print(f"{key:<{width}}  ", highlight=False)
            stdout.out(value.rstrip(), highlight=False)
            continue
        stdout.print(f"{key:<{width}}  {value if value is not None else '-'}", highlight=False, markup=False)


@app.command("search")
def search(
    ctx: typer.Context,
    job_id: str | None = typer.Option(None, "--id", help="A job id: found in any queue and state at once."),
    job_type: str | None = typer.Option(
        None,
        "--type",
        "-t",
        help="Jobs of this type (`jobctl job types`).",
        autocompletion=completion.JOB_TYPE,
    ),
    recipient: str | None = typer.Option(
        None,
        "--recipient",
        "--to",
        help="Email jobs to this address, any case; part of one (@example.com) matches as text.",
    ),
    queue: str | None = typer.Option(
        None, "--queue", "-q", help="Only this queue.", autocompletion=completion.QUEUE
    ),
    job_state: str | None = typer.Option(
        None, "--state", "-s", help=f"Only jobs in this state: one of {', '.join(SEARCH_STATES)}."
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000, help="Stop after this many matches."),
    scan_limit: int = typer.Option(
        SCAN_LIMIT,
        "--scan-limit",
        min=1,
        max=1_000_000,
        help="Examine at most this many jobs (type/recipient).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Find jobs by id, type or recipient, in every queue and state (dead-lettered too). An id is one
    lookup; a type or recipient search reads jobs newest first and stops at --scan-limit, and says so."""
    st = state(ctx)
    found = search_jobs(
        st.connection,
        st.settings,
        job_id=job_id,
        job_type=job_type,
        recipient=recipient,
        queue=queue,
        state=job_state,
        limit=limit,
        scan_limit=scan_limit,
    )
    if job_id is not None and not found["jobs"]:
        where = " matching those filters" if found["total"] else ""
        raise NotFound(
            f"no job {job_id!r}{where}",
            "it may have been trimmed by keep-completed/keep-failed; see `jobctl queue show`",
        )
    if as_json:
        emit_json(found)
        return
    if found["jobs"]:
        _print_rows(found["jobs"])
    else:
        stdout.print("no jobs matched", highlight=False)
    note = scan_note(found)
    if note:
        stdout.print(note, highlight=False, markup=False, soft_wrap=True)


def _print_rows(jobs: list[dict]) -> None:
    """Two lines a job, so 80 columns hold the whole id (it is copied into `job show`) and any queue:
    id, state and its time; then type, queue and attempts as `job show` counts them."""
    width = max(len(j["id"]) for j in jobs)
    for j in jobs:
        tries = j.get("attempts") or {}
        stdout.print(
            f"{j['id']:<{width}}  {j['state']:<9}  {_when(j)}\n"
            f"  {j['type'] or '-'} on {j['queue']} ({j['priority'] or '-'}), "
            f"attempts {tries.get('made', '-')} of {tries.get('allowed') or '-'}",
            highlight=False,
            markup=False,
            crop=False,
        )


def _when(row: dict) -> str:
    """The time that matters in the row's state: when a scheduled job runs, else its latest event."""
    if row.get("runs_at"):
        return f"runs {_utc(row['runs_at'])}"
    for key, word in (("ended_at", "ended"), ("started_at", "started"), ("enqueued_at", "enqueued")):
        if row.get(key):
            return f"{word} {_utc(row[key])}"
    return f"created {_utc(row.get('created_at'))}"


def _utc(iso: str | None) -> str:
    return f"{(iso or '')[:16].replace('T', ' ')} UTC" if iso else "-"


def scan_note(found: dict) -> str | None:
    """The line that tells a partial answer from a full one (None: every job was examined)."""
    if found["by"] == "id" or found["complete"]:
        note = None
    elif found["stopped"] == "limit":
        note = f"stopped at --limit {found['query']['limit']} matches; more may match"
    else:
        note = (
            f"scanned {found['scanned']:,} of {found['total']:,} jobs (newest first); "
            "narrow with --queue/--state or raise --scan-limit"
        )
    if found["unreadable"]:
        extra = f"{found['unreadable']:,} encrypted job(s) skipped: no key here opens them"
        note = f"{note}; {extra}" if note else extra
    return note


@app.command("delete")
def delete(
    ctx: typer.Context,
    job_ids: list[str] = typer.Argument(..., help="Job ids."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = JsonOption,
) -> None:
    """Delete jobs from their queue or registry, with their data (not running or dead ones)."""
    confirm(f"Delete {len(set(job_ids))} job(s) for good?", yes, as_json)
    st = state(ctx)
    finish_bulk(delete_jobs(st.connection, st.settings, job_ids), "deleted", "deleted", as_json)


@app.command("cancel")
def cancel(
    ctx: typer.Context, job_id: str = typer.Argument(..., help="Job id."), as_json: bool = JsonOption
) -> None:
    """Cancel a waiting or scheduled job; ask the worker to stop a running one."""
    st = state(ctx)
    result = cancel_job(st.connection, st.settings, job_id)
    if as_json:
        emit_json(result)
        return
    stdout.print(f"{result['id']}: was {result['was']}, {result['action']}", highlight=False, markup=False)


@app.command("types")
def types(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Job types, their queues and the fields of their data (`enqueue job`, schedules and HTTP use them)."""
    rows = [describe_type(name) for name in offered(state(ctx).settings)]
    if as_json:
        emit_json({"types": rows})
        return
    for row in rows:
        lines = [f"{row['type']}  ({row['queue']})  {row['summary']}"]
        lines += [
            f"    {f['name']:<16} {f['kind']:<7} {'required' if f['required'] else 'optional':<9} {f['doc']}"
            for f in row["fields"]
        ]
        if row["other_keys"]:
            lines.append(f"    (other keys {row['other_keys']})")
        stdout.print("\n".join(lines), highlight=False, markup=False, soft_wrap=True)
