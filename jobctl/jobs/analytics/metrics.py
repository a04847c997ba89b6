"""The marketplace's metrics for one period, computed in SQL, and their idempotent upsert.

Definitions (period [start, end), naive UTC):
    page_views           page_views rows with occurred_at in the period
    unique_visitors      distinct visitor_id among them
    purchases            orders paid in the period (paid_at in it; a later refund does not undo it)
    revenue              sum of those orders' total_cents (gross: refunds are reported on their own)
    conversion_rate      purchases / unique_visitors, a fraction with 6 decimals (0 without visitors)
    average_order_value  revenue / purchases in cents, 2 decimals (0 without purchases)

One query reads the page views and one the orders, whatever metrics are asked for; the two
derived ones come from the same numbers, so they always agree with what is stored beside them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Connection, func, select

from jobctl.data.schema import analytics_aggregates, orders, page_views

METRICS = ("page_views", "unique_visitors", "purchases", "revenue", "conversion_rate", "average_order_value")
RATIO = Decimal("0.000001")
CENTS = Decimal("0.01")


def measure(conn: Connection, start: datetime, end: datetime) -> dict[str, Decimal]:
    """Every metric for [start, end)."""
    view_counts = conn.execute(
        select(func.count(), func.count(page_views.c.visitor_id.distinct())).where(
            page_views.c.occurred_at >= start, page_views.c.occurred_at < end
        )
    ).one()
    order_counts = conn.execute(
        select(func.count(), func.coalesce(func.sum(orders.c.total_cents), 0)).where(
            orders.c.paid_at >= start, orders.c.paid_at < end
        )
    ).one()
    views, visitors, purchases, revenue = (Decimal(int(v)) for v in (*view_counts, *order_counts))
    return {
        "page_views": views,
        "unique_visitors": visitors,
        "purchases": purchases,
        "revenue": revenue,
        "conversion_rate": (purchases / visitors).quantize(RATIO, ROUND_HALF_UP) if visitors else Decimal(0),
        "average_order_value": (revenue / purchases).quantize(CENTS, ROUND_HALF_UP)
        if purchases
        else Decimal(0),
    }


def _upsert(conn: Connection):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert  # lazy: just this dialect

        return postgresql_insert(analytics_aggregates)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert  # lazy: just this dialect

    return sqlite_insert(analytics_aggregates)


def store(
    conn: Connection,
    period_type: str,
    rows: Iterable[tuple[datetime, dict[str, Decimal]]],
    metrics: Iterable[str],
) -> int:
    """Upsert (period_type, period_start, metric) -> value: re-running a period replaces its rows."""
    now = datetime.now(UTC).replace(tzinfo=None)
    wanted = list(metrics)
    values = [
        {
            "period_type": period_type,
            "period_start": start,
            "metric": name,
            "value": measured[name],
            "computed_at": now,
        }
        for start, measured in rows
        for name in wanted
    ]
    if not values:
        return 0
    statement = _upsert(conn)
    statement = statement.on_conflict_do_update(
        index_elements=["period_type", "period_start", "metric"],
        set_={"value": statement.excluded.value, "computed_at": statement.excluded.computed_at},
    )
    conn.execute(statement, values)
    return len(values)


def stored(
    conn: Connection, period_type: str, start: datetime, end: datetime, metrics: Iterable[str] = METRICS
) -> list[dict]:
    """Stored aggregates of periods starting in [start, end), one row per period, oldest first."""
    result = conn.execute(
        select(
            analytics_aggregates.c.period_start,
            analytics_aggregates.c.metric,
            analytics_aggregates.c.value,
            analytics_aggregates.c.computed_at,
        )
        .where(
            analytics_aggregates.c.period_type == period_type,
            analytics_aggregates.c.period_start >= start,
            analytics_aggregates.c.period_start < end,
            analytics_aggregates.c.metric.in_(list(metrics)),
        )
        .order_by(analytics_aggregates.c.period_start, analytics_aggregates.c.metric)
    )
    rows: dict[datetime, dict] = {}
    for period_start, metric, value, computed_at in result:
        row = rows.setdefault(period_start, {"period_start": period_start, "computed_at": computed_at})
        row[metric] = Decimal(value)
        row["computed_at"] = max(row["computed_at"], computed_at)
    return list(rows.values())
