"""Roll-up periods: hours, days, ISO weeks (Monday first) and calendar months, all in UTC.

Every period is a half-open interval [start, end) of naive UTC datetimes, the store's convention.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

PERIOD_TYPES = ("hourly", "daily", "weekly", "monthly")
MAX_PERIODS = 100_000  # ~11 years of hours: a typo in a date range should not enqueue forever
# no marketplace data lies outside these days, and inside them a period's arithmetic (the next
# month, the Monday before) never leaves datetime's range, whatever the time zone
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)


def floor(kind: str, moment: datetime) -> datetime:
    """The start of the period that contains `moment`."""
    if kind == "hourly":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = datetime.combine(moment.date(), time())
    if kind == "daily":
        return day
    if kind == "weekly":
        return day - timedelta(days=day.weekday())
    if kind == "monthly":
        return day.replace(day=1)
    raise ValueError(f"unknown period type {kind!r}")


def following(kind: str, start: datetime) -> datetime:
    """The start of the next period."""
    if kind == "hourly":
        return start + timedelta(hours=1)
    if kind == "daily":
        return start + timedelta(days=1)
    if kind == "weekly":
        return start + timedelta(days=7)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month, day=1)


def periods(kind: str, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Every period that overlaps [start, end), whole: a range that starts mid-week gets that week."""
    current = floor(kind, start)
    while current < end:
        nxt = following(kind, current)
        yield current, nxt
        current = nxt


def last_complete(kind: str, moment: datetime) -> tuple[datetime, datetime]:
    """The latest period that had ended by `moment` (what a schedule firing at `moment` rolls up)."""
    end = floor(kind, moment)
    if kind == "monthly":
        previous = (end - timedelta(days=1)).replace(day=1)
        return previous, end
    step = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(days=7)}[kind]
    return end - step, end


def day_range(first: date, last: date) -> tuple[datetime, datetime]:
    """Inclusive dates as the half-open datetime interval they cover."""
    return datetime.combine(first, time()), datetime.combine(last + timedelta(days=1), time())
