"""Cron occurrences on a timezone's wall clock, DST-correct.

A time that a spring-forward skips runs at the shifted time (02:30 -> 03:30 local) and a time that a
fall-back repeats runs once. RQ's own CronScheduler evaluates cron in the server's local time with no
timezone option, hence this module.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jobctl.errors import UsageError

MACROS = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
# DST shifts are at most 1 h (2 h in Antarctica/Troll): start the wall-clock walk this far back so an
# occurrence pushed forward by a spring-forward gap is still found.
DST_MARGIN = timedelta(hours=3)


def check_cron(cron: str) -> str:
    """A normalised 5-field expression or macro; seconds/year (6/7-field) forms are rejected."""
    text = " ".join(str(cron).split())
    hint = "five fields 'minute hour day month weekday' (e.g. '0 6 * * *') or " + ", ".join(MACROS)
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise UsageError(f"invalid cron expression {cron!r}", hint)
        return text.lower()
    # lazy: croniter only where a cron is read (every settings load imports this module; most read none)
    from croniter import croniter
    from croniter.croniter import CroniterError

    if len(text.split(" ")) != 5 or not croniter.is_valid(text):
        raise UsageError(f"invalid cron expression {cron!r}", hint)
    try:
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except (CroniterError, ValueError, KeyError):
        raise UsageError(f"cron expression {cron!r} never matches a date", hint) from None
    return text


def check_tz(tz: str) -> ZoneInfo:
    try:
        if not isinstance(tz, str) or not tz or tz != tz.strip():
            raise ValueError
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise UsageError(
            f"unknown timezone {tz!r}", "use an IANA name, e.g. Europe/Berlin, America/New_York, UTC"
        ) from None


def _zone(tz: str | tzinfo) -> tzinfo:
    return tz if isinstance(tz, tzinfo) else check_tz(tz)


def as_aware(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # naive: UTC


def _to_utc(naive_local: datetime, zone: tzinfo) -> float:
    # fold=0 through .timestamp(), not astimezone(): before Python 3.12 astimezone inverts fold for a
    # time in a spring-forward gap. fold=0 gives a skipped time the pre-transition offset (02:30 ->
    # 03:30 local) and a repeated time its first occurrence (so it runs once).
    return naive_local.replace(tzinfo=zone, fold=0).timestamp()


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def next_runs(cron: str, tz: str | tzinfo, after: datetime, n: int = 1) -> list[datetime]:
    """The next `n` occurrences strictly after `after`, as aware UTC datetimes, strictly increasing.

    croniter walks the naive local wall clock (it would otherwise do DST arithmetic itself); each
    candidate is then placed on the real timeline. A wall time that maps onto an instant already
    produced (the hour after a spring-forward gap repeats the gap's shifted times) is dropped.
    """
    zone = _zone(tz)
    after = as_aware(after)
    last = after.timestamp()
    from croniter import croniter  # lazy: see check_cron

    walk = croniter(cron, after.astimezone(zone).replace(tzinfo=None) - DST_MARGIN)
    out: list[datetime] = []
    while len(out) < n:
        ts = _to_utc(walk.get_next(datetime), zone)
        if ts <= last:
            continue
        out.append(_utc(ts))
        last = ts
    return out


def latest_run(cron: str, tz: str | tzinfo, at: datetime) -> datetime:
    """The most recent occurrence at or before `at` (UTC)."""
    zone = _zone(tz)
    at = as_aware(at)
    limit = at.timestamp()
    from croniter import croniter  # lazy: see check_cron

    walk = croniter(cron, at.astimezone(zone).replace(tzinfo=None) + DST_MARGIN)
    while True:
        ts = _to_utc(walk.get_prev(datetime), zone)
        if ts <= limit:
            return _utc(ts)
