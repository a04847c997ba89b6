"""The numbers behind a daily or weekly report, read from the store in the shape render.py draws.

A daily report covers one UTC day and compares with the day before; a weekly one covers Monday to
Sunday and compares with the week before. Sales metrics use the analytics definitions
(jobctl.jobs.analytics.metrics), so a report and the roll-ups never disagree.

A period that is not over when the report is made is partial: its figures stop at that moment, and
the previous period is cut at the same offset (Monday to Wednesday 14:05 against Monday to
Wednesday 14:05 of the week before), because comparing half a week with a whole one reads as a
collapse that never happened. The title and `partial` say so.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select

from jobctl.core.jobtypes import REPORT_KINDS
from jobctl.data.schema import order_items, orders, payments, products, users
from jobctl.errors import UsageError
from jobctl.jobs.analytics.metrics import measure

KINDS = REPORT_KINDS
TOP_PRODUCTS = 10
LABELS = [
    ("revenue", "Revenue", "cents"),
    ("purchases", "Orders", "count"),
    ("page_views", "Page views", "count"),
    ("unique_visitors", "Unique visitors", "count"),
    ("conversion_rate", "Conversion rate", "ratio"),
    ("average_order_value", "Average order value", "cents"),
    ("new_users", "New users", "count"),
    ("refunds", "Refunds", "count"),
    ("failed_payments", "Failed payments", "count"),
]


def period_of(kind: str, day: date) -> tuple[date, date]:
    """Inclusive first and last day of the report that covers `day`."""
    if kind == "daily":
        return day, day
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def previous_period(kind: str, first: date) -> tuple[date, date]:
    return period_of(kind, first - timedelta(days=1))


def default_day(kind: str, today: date) -> date:
    """The day a report covers when none is given: yesterday (daily), the Sunday that ended the last
    complete Monday-Sunday week (weekly), so a default report is never a partial one."""
    if kind == "daily":
        return today - timedelta(days=1)
    return today - timedelta(days=today.weekday() + 1)


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    return datetime.combine(first, time()), datetime.combine(last + timedelta(days=1), time())


def _count(conn: Connection, column, start: datetime, end: datetime, *extra) -> int:
    return int(conn.execute(select(func.count()).where(column >= start, column < end, *extra)).scalar_one())


def _metrics(conn: Connection, start: datetime, end: datetime) -> dict[str, Any]:
    measured = measure(conn, start, end)
    return {
        "revenue": int(measured["revenue"]),
        "purchases": int(measured["purchases"]),
        "page_views": int(measured["page_views"]),
        "unique_visitors": int(measured["unique_visitors"]),
        "conversion_rate": f"{measured['conversion_rate']:.6f}",
        "average_order_value": int(measured["average_order_value"].to_integral_value()),
        "new_users": _count(conn, users.c.created_at, start, end),
        "refunds": _count(conn, orders.c.refunded_at, start, end),
        "failed_payments": _count(conn, payments.c.updated_at, start, end, payments.c.status == "failed"),
    }


def _top_products(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    revenue = func.sum(order_items.c.quantity * order_items.c.unit_price_cents).label("revenue")
    units = func.sum(order_items.c.quantity).label("units")
    query = (
        select(products.c.id, products.c.name, products.c.category, units, revenue)
        .select_from(
            order_items.join(orders, order_items.c.order_id == orders.c.id).join(
                products, order_items.c.product_id == products.c.id
            )
        )
        .where(and_(orders.c.paid_at >= start, orders.c.paid_at < end))
        .group_by(products.c.id, products.c.name, products.c.category)
        .order_by(revenue.desc(), products.c.id)
        .limit(TOP_PRODUCTS)
    )
    return [
        {
            "product_id": row.id,
            "name": row.name,
            "category": row.category,
            "units": int(row.units),
            "revenue": int(row.revenue),
        }
        for row in conn.execute(query)
    ]


def _daily_rows(conn: Connection, first: date, last: date, cutoff: datetime) -> list[dict[str, Any]]:
    """One row per day of the period up to `cutoff` (the last one partial when the period is)."""
    rows = []
    day = first
    while day <= last and datetime.combine(day, time()) < cutoff:
        start, end = _bounds(day, day)
        measured = measure(conn, start, min(end, cutoff))
        rows.append(
            {
                "date": day.isoformat(),
                "revenue": int(measured["revenue"]),
                "purchases": int(measured["purchases"]),
                "page_views": int(measured["page_views"]),
                "unique_visitors": int(measured["unique_visitors"]),
            }
        )
        day += timedelta(days=1)
    return rows


def _title(kind: str, first: date, last: date) -> str:
    if kind == "daily":
        return f"Daily report, {first:%A} {first.day} {first:%B %Y}"
    return f"Weekly report, {first.day} {first:%B} to {last.day} {last:%B %Y} (week {first.isocalendar()[1]})"


def _through(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y}, {moment:%H:%M} UTC"


def report_data(
    conn: Connection, kind: str, day: date, currency: str = "USD", now: datetime | None = None
) -> dict[str, Any]:
    """Everything a report shows, for the report of `kind` that covers `day`, as of `now` (UTC)."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    first, last = period_of(kind, day)
    before_first, before_last = previous_period(kind, first)
    start, end = _bounds(first, last)
    before_start, before_end = _bounds(before_first, before_last)
    title, partial = _title(kind, first, last), None
    moment = now.replace(tzinfo=None)  # the store holds naive UTC
    if moment < start:  # all zeros would read as a dead shop, not as "not yet"
        raise UsageError(f"the {kind} report for {day} has not started yet", "give a day up to today")
    if moment < end:  # not over yet: stop both periods at the same offset into them
        end, before_end = moment, before_start + (moment - start)
        partial = {"through": moment.isoformat(), "previous_through": before_end.isoformat()}
        title += f" (partial: through {_through(moment)})"
    current, previous = _metrics(conn, start, end), _metrics(conn, before_start, before_end)
    return {
        "kind": kind,
        "title": title,
        "period": {"start": first.isoformat(), "end": last.isoformat()},
        "previous_period": {"start": before_first.isoformat(), "end": before_last.isoformat()},
        "partial": partial,
        "generated_at": now.isoformat(timespec="seconds"),
        "currency": currency,
        "metrics": [
            {"name": name, "label": label, "unit": unit, "value": current[name], "previous": previous[name]}
            for name, label, unit in LABELS
        ],
        "daily": _daily_rows(conn, first, last, end),
        "top_products": _top_products(conn, start, end),
    }
