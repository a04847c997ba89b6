"""Analytics roll-up jobs: the payload, checked where it is enqueued, and the RQ job function.

Payload (JSON): {"type": hourly|daily|weekly|monthly, "start": ISO, "end": ISO (exclusive),
"metrics": [...]}. Given only a type, the job rolls up the last period that had ended when it was
enqueued (a schedule's: when its occurrence fired).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from jobctl.core import runtime
from jobctl.core.choices import pick
from jobctl.core.contracts import BuildContext, Contract, Field
from jobctl.data import engine_for
from jobctl.data.engine import begin_write
from jobctl.errors import JobctlError, PermanentJobFailure, UsageError
from jobctl.jobs.analytics.metrics import METRICS, measure, store, stored
from jobctl.jobs.analytics.periods import MAX_PERIODS, PERIOD_TYPES, day_range, last_complete, periods


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def check_metrics(metrics: Iterable[str] | str | None) -> list[str]:
    return pick(metrics, METRICS, "metric")


def check_type(kind: Any) -> str:
    if kind not in PERIOD_TYPES:
        raise UsageError(f"unknown analytics type {kind!r}", f"use one of {', '.join(PERIOD_TYPES)}")
    return kind


def as_range(date_range: Any) -> tuple[datetime, datetime]:
    """(start, end): dates are inclusive days, datetimes a half-open interval; both end up naive UTC.

    A mapping {"start": ..., "end": ...} is read as the pair (end defaults to start: one day)."""
    if isinstance(date_range, dict):
        date_range = (date_range.get("start"), date_range.get("end") or date_range.get("start"))
    try:
        start, end = date_range
    except (TypeError, ValueError):
        raise UsageError(
            "date_range must be a (start, end) pair", "pass date_range=(date(2024, 1, 1), date(2024, 1, 31))"
        ) from None
    if isinstance(start, str) or isinstance(end, str):
        try:
            start, end = (
                date.fromisoformat(v)
                if isinstance(v, str) and len(v) == 10
                else datetime.fromisoformat(v)
                if isinstance(v, str)
                else v
                for v in (start, end)
            )
        except ValueError as exc:
            raise UsageError(f"date_range: {exc}", "use YYYY-MM-DD or ISO 8601 datetimes") from None
    if type(start) is date and type(end) is date:
        first, last = start, end
        if last < first:
            raise UsageError(f"date_range ends ({last}) before it starts ({first})", "swap --from and --to")
        return day_range(first, last)
    if not (isinstance(start, datetime) and isinstance(end, datetime)):
        raise UsageError(
            "date_range must be two dates or two datetimes", "e.g. (date(2024, 1, 1), date(2024, 1, 31))"
        )
    start, end = _naive_utc(start), _naive_utc(end)
    if end <= start:
        raise UsageError(f"date_range ends ({end}) at or before it starts ({start})", "swap start and end")
    return start, end


def count_periods(kind: str, start: datetime, end: datetime) -> int:
    count = 0
    for _ in periods(kind, start, end):
        count += 1
        if count > MAX_PERIODS:
            raise UsageError(
                f"that range holds more than {MAX_PERIODS:,} {kind} periods",
                "pick a shorter range or a coarser type",
            )
    return count


def prepare_analytics_payload(kind: Any, date_range: Any, metrics: Any = None) -> dict[str, Any]:
    kind = check_type(kind)
    start, end = as_range(date_range)
    count_periods(kind, start, end)
    return {
        "type": kind,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "metrics": check_metrics(metrics),
    }


def _build(_settings, fields: dict[str, Any], context: BuildContext) -> dict[str, Any]:
    kind = check_type(fields.get("type"))
    if fields.get("start") is None and fields.get("end") is None:
        fired = context.occurrence or datetime.now(UTC)
        return prepare_analytics_payload(kind, last_complete(kind, _naive_utc(fired)), fields.get("metrics"))
    return prepare_analytics_payload(kind, fields, fields.get("metrics"))


def _load(payload: Any) -> Any:
    _read(payload)
    return payload


def _describe(payload: dict[str, Any]) -> str:
    return f"analytics {payload['type']} {payload['start'][:10]}..{payload['end'][:10]}"


def _read(payload: Any) -> tuple[str, datetime, datetime, list[str]]:
    if not isinstance(payload, dict):
        raise UsageError("analytics payload must be an object", "enqueue with add_analytics_job")
    kind = check_type(payload.get("type"))
    if (
        "occurrence" in payload and "start" not in payload
    ):  # queued by a jobctl before scheduler facts moved to meta
        start, end = last_complete(kind, _naive_utc(datetime.fromisoformat(payload["occurrence"])))
    else:
        start, end = as_range((payload.get("start"), payload.get("end")))
    return kind, start, end, check_metrics(payload.get("metrics"))


def roll_up(engine, kind: str, start: datetime, end: datetime, metrics: list[str]) -> dict[str, Any]:
    """Compute and upsert every period of `kind` overlapping [start, end); one transaction."""
    spans = list(periods(kind, start, end))
    # the write lock up front: on SQLite a read transaction that later writes cannot wait for another
    # writer (it fails "database is locked" at once), and two workers rolling up at once is normal
    with begin_write(engine) as conn:
        measured = [(span_start, measure(conn, span_start, span_end)) for span_start, span_end in spans]
        rows = store(conn, kind, measured, metrics)
    result: dict[str, Any] = {
        "type": kind,
        "start": spans[0][0].isoformat() if spans else None,
        "end": spans[-1][1].isoformat() if spans else None,
        "periods": len(spans),
        "rows": rows,
        "metrics": metrics,
    }
    if len(spans) == 1:
        result["values"] = {name: str(measured[0][1][name]) for name in metrics}
    return result


def run_analytics_job(payload: dict) -> dict[str, Any]:
    """The RQ job: roll up the payload's periods into analytics_aggregates (idempotent)."""
    try:
        kind, start, end, metrics = _read(payload)
    except (JobctlError, ValueError, TypeError) as exc:
        raise PermanentJobFailure(f"bad analytics payload: {getattr(exc, 'message', exc)}") from None
    return roll_up(engine_for(runtime.settings()), kind, start, end, metrics)


CONTRACT = Contract(
    "analytics",
    (
        Field("type", "text", True, f"{', '.join(PERIOD_TYPES)}"),
        Field(
            "start",
            "date",
            False,
            "first day (YYYY-MM-DD) or an ISO datetime; default: the last complete period",
        ),
        Field("end", "date", False, "last day, inclusive (default: start), or an exclusive ISO datetime"),
        Field("metrics", "list", False, f"any of {', '.join(METRICS)} (default: all)"),
    ),
    build=_build,
    load=_load,
    describe=_describe,
)


def stored_rollups(
    settings, kind: Any, days: tuple[date, date], metrics: Any = None
) -> tuple[list[dict], list[str]]:
    """What `jobctl analytics show` prints: stored rows of periods starting within the days given."""
    kind, names = check_type(kind), check_metrics(metrics)
    start, end = as_range(days)
    with engine_for(settings).connect() as conn:
        return stored(conn, kind, start, end, names), names
