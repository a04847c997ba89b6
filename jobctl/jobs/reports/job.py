"""Generate a report: read the numbers, render each format, store and record the files, mail admins.

Files go to STORAGE/reports/<kind>/<kind>-<first day>.<format>, so regenerating a period replaces
its files, and the reports table holds one row per (kind, period, format), updated in place. The
email to JOBCTL_ADMIN_EMAILS goes through the email-sending queue with the files attached, so a
mail outage delays it (retries) without failing the report.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from jobctl.core import runtime
from jobctl.core.atomic import write_atomic
from jobctl.core.choices import pick
from jobctl.core.contracts import BuildContext, Contract, Field
from jobctl.core.submit import submit
from jobctl.data import engine_for
from jobctl.data.schema import reports
from jobctl.errors import JobctlError, PermanentJobFailure, UsageError
from jobctl.jobs.analytics.periods import FIRST_DAY, LAST_DAY
from jobctl.jobs.reports.data import KINDS, default_day, report_data
from jobctl.jobs.reports.render import render, summary_lines

FORMATS = ("pdf", "csv", "json")
TEMPLATE = "admin-report"


def check_formats(formats: Any) -> list[str]:
    return pick(formats, FORMATS, "report format")


def check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise UsageError(f"unknown report {kind!r}", f"reports are: {', '.join(KINDS)}")
    return kind


def check_date(value: Any) -> date:
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        try:
            day = date.fromisoformat(str(value))
        except ValueError:
            raise UsageError(f"report date {value!r} is not a date", "use YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:  # the period around it must stay inside datetime's range
        raise UsageError(
            f"report date {day} is out of range", f"give a day between {FIRST_DAY} and {LAST_DAY}"
        )
    return day


def _insert(conn):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert  # lazy: just this dialect

        return postgresql_insert(reports)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert  # lazy: just this dialect

    return sqlite_insert(reports)


def _record(conn, kind: str, first: date, last: date, fmt: str, path: str, digest: str, size: int) -> None:
    row = {
        "kind": kind,
        "period_start": first,
        "period_end": last,
        "format": fmt,
        "path": path,
        "sha256": digest,
        "size": size,
        "created_at": datetime.now(UTC).replace(tzinfo=None),
    }
    statement = _insert(conn).values(row)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["kind", "period_start", "format"],
            set_={k: statement.excluded[k] for k in ("period_end", "path", "sha256", "size", "created_at")},
        )
    )


def _email_admins(settings, data: dict, paths: list[str]) -> str | None:
    period = data["period"]
    return submit(
        runtime.connection(),
        settings,
        "email",
        {
            "to": list(settings.admin_emails),
            "template": TEMPLATE,
            "attachments": paths,
            "data": {
                "report_name": data["kind"],
                "title": data["title"],
                "period": period["start"]
                if period["start"] == period["end"]
                else f"{period['start']} to {period['end']}",
                "lines": summary_lines(data),
                "files": [p.rsplit("/", 1)[-1] for p in paths],
            },
        },
    )


def generate_report(
    settings, kind: str, day: date, formats: list[str], *, email: bool = True, now: datetime | None = None
) -> dict[str, Any]:
    """Render and store one report in every format asked for, as of `now` (a period not over by then
    is reported as partial); returns what was written (and mailed)."""
    kind, day, formats = check_kind(kind), check_date(day), check_formats(formats)
    engine = engine_for(settings)
    with engine.connect() as conn:
        data = report_data(conn, kind, day, now=now)
    first, last = date.fromisoformat(data["period"]["start"]), date.fromisoformat(data["period"]["end"])
    folder = settings.storage_path / "reports" / kind
    files: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for fmt in formats:
            body = render(data, fmt)
            path = folder / f"{kind}-{first.isoformat()}.{fmt}"
            write_atomic(path, body)
            digest = hashlib.sha256(body).hexdigest()
            _record(conn, kind, first, last, fmt, str(path), digest, len(body))
            files.append({"format": fmt, "path": str(path), "size": len(body), "sha256": digest})
    emailed = (
        _email_admins(settings, data, [f["path"] for f in files]) if email and settings.admin_emails else None
    )
    return {
        "kind": kind,
        "period": data["period"],
        "title": data["title"],
        "partial": data["partial"],
        "files": files,
        "email_job": emailed,
        "metrics": {m["name"]: m["value"] for m in data["metrics"]},
    }


def _day_from(payload: dict, kind: str) -> date:
    """An explicit date, else the last complete period before the schedule's occurrence (06:00 ->
    yesterday) or, without one, before today."""
    if payload.get("date"):
        return check_date(payload["date"])
    if payload.get("occurrence"):  # queued by a jobctl before scheduler facts moved to job meta
        return default_day(kind, datetime.fromisoformat(payload["occurrence"]).astimezone(UTC).date())
    return default_day(kind, datetime.now(UTC).date())


def check_payload(kind: str, payload: Any) -> tuple[date, list[str]]:
    if not isinstance(payload, dict):
        raise UsageError("report payload must be an object", "enqueue with add_report_job")
    unknown = sorted(set(payload) - {"date", "formats", "email", "occurrence", "schedule", "manual"})
    if unknown:
        raise UsageError(f"unknown report field {unknown[0]!r}", "report fields: date, formats, email")
    return _day_from(payload, kind), check_formats(payload.get("formats"))


def prepare_report_payload(
    kind: str, *, date: Any = None, formats: Any = None, email: Any = True, occurrence: datetime | None = None
) -> dict[str, Any]:
    """The payload of a `kind` report job; without a date it covers the period before `occurrence`
    (a schedule's) or, with neither, the period before the day the job runs."""
    check_kind(kind)
    if not isinstance(email, bool):
        raise UsageError(
            f"report email must be true or false, got {email!r}", "email=false keeps it in storage"
        )
    payload: dict[str, Any] = {"formats": check_formats(formats), "email": email}
    if date is not None:
        payload["date"] = check_date(date).isoformat()
    elif occurrence is not None:
        payload["date"] = _day_from({"occurrence": occurrence.isoformat()}, kind).isoformat()
    return payload


def _contract(kind: str) -> Contract:
    def build(_settings, fields: dict[str, Any], context: BuildContext) -> dict[str, Any]:
        return prepare_report_payload(kind, **fields, occurrence=context.occurrence)

    def load(payload: Any) -> Any:
        check_payload(kind, payload)
        return payload

    return Contract(
        f"{kind}-report",
        (
            Field(
                "date",
                "date",
                False,
                "a day the report covers, YYYY-MM-DD (default: the period before it runs)",
            ),
            Field("formats", "list", False, f"any of {', '.join(FORMATS)} (default: all)"),
            Field("email", "bool", False, "mail it to JOBCTL_ADMIN_EMAILS (default true)"),
        ),
        build=build,
        load=load,
        describe=lambda payload: f"{kind} report {payload.get('date', '')}".strip(),
    )


DAILY, WEEKLY = _contract("daily"), _contract("weekly")


def _run(kind: str, payload: dict) -> dict[str, Any]:
    try:
        day, formats = check_payload(kind, payload)
    except (JobctlError, ValueError) as exc:
        raise PermanentJobFailure(f"bad report payload: {getattr(exc, 'message', exc)}") from None
    return generate_report(runtime.settings(), kind, day, formats, email=payload.get("email", True))


def run_daily_report(payload: dict) -> dict[str, Any]:
    """The daily-reports job (06:00 UTC by default): yesterday's report."""
    return _run("daily", payload)


def run_weekly_report(payload: dict) -> dict[str, Any]:
    """The weekly-reports job (Mondays 08:00 UTC by default): last week's report."""
    return _run("weekly", payload)


def list_reports(settings, kind: Any = None, limit: int = 20) -> list[dict[str, Any]]:
    query = (
        select(reports).order_by(reports.c.period_start.desc(), reports.c.kind, reports.c.format).limit(limit)
    )
    if kind is not None:
        query = query.where(reports.c.kind == check_kind(kind))
    with engine_for(settings).connect() as conn:
        return [
            {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in row._mapping.items()}
            for row in conn.execute(query)
        ]
