"""jobctl report generate|list"""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from jobctl.cli import completion
from jobctl.cli.analytics import parse_day
from jobctl.cli.common import JsonOption, emit_json, new_app, state, stdout

app = new_app("Daily and weekly reports: generate one now, list what was generated.")


@app.command("generate")
def generate(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="daily or weekly.", autocompletion=completion.REPORT_KIND),
    day: str | None = typer.Option(
        None,
        "--date",
        help="A day the report covers, YYYY-MM-DD (default: yesterday; weekly: the last complete"
        " Monday-Sunday week). A period not over yet is reported as partial.",
    ),
    formats: str = typer.Option("pdf,csv,json", "--format", "-f", help="Comma-separated: pdf, csv, json."),
    email: bool = typer.Option(True, "--email/--no-email", help="Mail it to JOBCTL_ADMIN_EMAILS (when set)."),
    as_json: bool = JsonOption,
) -> None:
    """Generate a report now, in this process: files in storage, a row in the reports table, an email."""
    # lazy: SQLAlchemy, ~200 ms of start-up for every other command
    from jobctl.jobs.reports.data import default_day
    from jobctl.jobs.reports.job import check_formats, check_kind, generate_report

    kind, wanted = check_kind(kind), check_formats(formats)
    when = parse_day(day, "--date") if day else default_day(kind, datetime.now(UTC).date())
    st = state(ctx)
    st.install_runtime()  # the admin email is enqueued with this invocation's settings
    result = generate_report(st.settings, kind, when, wanted, email=email)
    if as_json:
        emit_json(result)
        return
    stdout.print(f"{result['title']}")
    for f in result["files"]:
        stdout.print(f"  {f['format']:<4} {f['path']} ({f['size']:,} bytes)")
    if result["email_job"]:
        stdout.print(f"  mailed to the admins: email job {result['email_job']}")


@app.command("list")
def list_(
    ctx: typer.Context,
    kind: str | None = typer.Option(
        None, "--kind", help="Only daily or weekly.", autocompletion=completion.REPORT_KIND
    ),
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="Newest first, at most this many."),
    as_json: bool = JsonOption,
) -> None:
    """Reports generated so far (from the reports table)."""
    # lazy: SQLAlchemy, ~200 ms of start-up for every other command
    from jobctl.jobs.reports.job import list_reports

    rows = list_reports(state(ctx).settings, kind, limit)
    if as_json:
        emit_json({"reports": rows})
        return
    if not rows:
        stdout.print("no reports yet (jobctl report generate daily)")
        return
    table = Table("kind", "period", "format", "size", "created", "path", box=None, pad_edge=False)
    for r in rows:
        period = (
            r["period_start"]
            if r["period_start"] == r["period_end"]
            else f"{r['period_start']}..{r['period_end']}"
        )
        table.add_row(r["kind"], period, r["format"], f"{r['size']:,}", r["created_at"][:16], r["path"])
    stdout.print(table)
