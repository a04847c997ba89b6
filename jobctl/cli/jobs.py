"""jobctl job show|delete|cancel|types"""

from __future__ import annotations

import json

import typer

from jobctl.cli.common import JsonOption, confirm, emit_json, new_app, state, stdout
from jobctl.cli.ops import finish_bulk
from jobctl.core.browse import job_detail
from jobctl.core.jobtypes import JOB_TYPES
from jobctl.core.ops import cancel_job, delete_jobs
from jobctl.core.submit import describe_type

app = new_app("Inspect, cancel and delete jobs.")


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
def types(as_json: bool = JsonOption) -> None:
    """Job types, their queues and the fields of their data (`enqueue job`, schedules and HTTP use them)."""
    rows = [describe_type(name) for name in JOB_TYPES]
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
