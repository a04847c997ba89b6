"""jobctl schedule list|add|remove|run|pause|resume"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from jobctl.cli import completion
from jobctl.cli.common import (
    JsonOption,
    confirm,
    emit_json,
    new_app,
    parse_json_object,
    parse_key_values,
    state,
    stdout,
)
from jobctl.core import schedules

app = new_app("Recurring jobs: cron schedules in a timezone, run by `jobctl scheduler start`.")

NameArgument = typer.Argument(..., help="Schedule name.", autocompletion=completion.SCHEDULE)
NewNameArgument = typer.Argument(..., help="Schedule name.")  # schedule add: a name not taken yet


def _short(iso: str | None) -> str:
    """'2026-03-08T07:30:00+00:00' -> '03-08 07:30 UTC'."""
    return datetime.fromisoformat(iso).strftime("%m-%d %H:%M UTC") if iso else "-"


def _local(iso: str, tz: str) -> str:
    """That instant on the schedule's wall clock: '03:30 EDT', with the date when it differs from UTC's."""
    moment = datetime.fromisoformat(iso)
    local = moment.astimezone(ZoneInfo(tz))
    fmt = "%H:%M" if local.date() == moment.date() else "%m-%d %H:%M"
    return f"{local.strftime(fmt)} {local.tzname() or tz}"


def _when(iso: str, tz: str) -> str:
    return _short(iso) + (f" ({_local(iso, tz)})" if tz != "UTC" else "")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Every schedule, defaults not yet seeded too: next run (UTC and local), last run, its job's status."""
    st = state(ctx)
    rows = schedules.list_schedules(st.connection, st.settings)
    if as_json:
        emit_json({"schedules": rows})
        return
    if not rows:
        stdout.print("no schedules (add one: jobctl schedule add NAME --cron CRON --job TYPE)")
        return
    # two lines per schedule keep it within 80 columns: definition on top, its state below
    table = Table("name", "cron / tz", "next UTC / local", "last / status", box=None, pad_edge=False)
    table.columns[0].overflow = "fold"
    for r in rows:
        nxt = r["next_runs"][0] if r["next_runs"] else None
        flags = (
            "not yet seeded"
            if not r["seeded"]
            else "paused"
            if r["paused"]
            else "no handler yet"
            if not r["handler"]
            else r["job_type"]
        )
        local = _local(nxt["utc"], r["tz"]) if nxt and r["tz"] != "UTC" else ""
        status = r["last_job_status"] or ""
        table.add_row(r["name"], r["cron"], _short(nxt["utc"]) if nxt else "-", _short(r["last_run_at"]))
        table.add_row(f"  {flags}", r["tz"], local, status, style="dim")
    stdout.print(table)
    pending = sum(not r["seeded"] for r in rows)
    if pending:
        stdout.print(
            f"{pending} default(s) not yet seeded: the first scheduler to start stores them", highlight=False
        )
    overdue = [r["name"] for r in rows if r["overdue"]]
    if overdue:
        stdout.print(
            f"{len(overdue)} schedule(s) overdue: is a scheduler running? (jobctl scheduler status)",
            highlight=False,
        )


@app.command("add")
def add(
    ctx: typer.Context,
    name: str = NewNameArgument,
    cron: str = typer.Option(..., "--cron", help="'minute hour day month weekday' or @hourly/@daily/..."),
    tz: str = typer.Option("UTC", "--tz", help="Timezone the cron runs in, e.g. Europe/Berlin."),
    job: str = typer.Option(
        ...,
        "--job",
        help="Job type to enqueue (see `jobctl enqueue --help`).",
        autocompletion=completion.JOB_TYPE,
    ),
    data: list[str] = typer.Option([], "--data", "-d", help="Payload KEY=VALUE (repeatable)."),
    data_json: str | None = typer.Option(None, "--data-json", help="Payload as a JSON object."),
    queue: str | None = typer.Option(
        None,
        "--queue",
        "-q",
        help="Queue override (default: the job type's).",
        autocompletion=completion.QUEUE,
    ),
    priority: str | None = typer.Option(
        None, "--priority", "-p", help="high, normal or low.", autocompletion=completion.PRIORITY
    ),
    missed: str = typer.Option(
        "once", "--missed", help="After downtime: once (run the latest missed) or skip."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Add a recurring schedule (the name must be new; remove first to change one)."""
    st = state(ctx)
    payload = {**parse_json_object(data_json), **parse_key_values(data)}
    doc = schedules.add_schedule(
        st.connection, st.settings, name, cron, tz, job, payload, queue, priority, missed
    )
    if as_json:
        emit_json(doc)
        return
    stdout.print(f"added {name}; next run {_when(doc['next_run_at'], doc['tz'])}", highlight=False)


@app.command("remove")
def remove(
    ctx: typer.Context,
    name: str = NameArgument,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = JsonOption,
) -> None:
    """Delete a schedule (a default not yet seeded too: it is then never seeded). Jobs it already
    enqueued are not touched."""
    st = state(ctx)
    seeded = schedules.listed_schedule(st.connection, st.settings, name)["seeded"]  # NotFound before asking
    confirm(
        f"Remove schedule {name}?" if seeded else f"Remove default schedule {name} (not yet seeded)?",
        yes,
        as_json,
    )
    doc = schedules.remove_schedule(st.connection, name, st.settings)
    if as_json:
        emit_json({"removed": name, "schedule": doc})
        return
    note = "" if doc["seeded"] else " (a default not yet seeded: no scheduler will store it)"
    stdout.print(f"removed {name}{note}", highlight=False)


@app.command("run")
def run(ctx: typer.Context, name: str = NameArgument, as_json: bool = JsonOption) -> None:
    """Enqueue the schedule's job now (its regular runs are unaffected); prints the job id."""
    st = state(ctx)
    with schedules.stored_only(st.connection, st.settings, name):
        job_id = schedules.run_now(st.connection, st.settings, name)
    if as_json:
        emit_json({"schedule": name, "job_id": job_id})
    else:
        typer.echo(job_id)


@app.command("pause")
def pause(ctx: typer.Context, name: str = NameArgument, as_json: bool = JsonOption) -> None:
    """Stop running a schedule; its occurrences pass without a job until resumed."""
    st = state(ctx)
    with schedules.stored_only(st.connection, st.settings, name):
        doc = schedules.pause_schedule(st.connection, name)
    _toggled(doc, as_json)


@app.command("resume")
def resume(ctx: typer.Context, name: str = NameArgument, as_json: bool = JsonOption) -> None:
    """Run a paused schedule again, from its next occurrence (paused ones are not caught up)."""
    st = state(ctx)
    with schedules.stored_only(st.connection, st.settings, name):
        doc = schedules.resume_schedule(st.connection, name)
    _toggled(doc, as_json)


def _toggled(doc: dict, as_json: bool) -> None:
    if as_json:
        emit_json(doc)
        return
    now = "paused" if doc["paused"] else "active"
    line = f"{doc['name']}: {now if doc['changed'] else 'already ' + now}"
    if not doc["paused"]:
        line += f"; next {_when(doc['next_run_at'], doc['tz'])}"
    stdout.print(line, highlight=False)
