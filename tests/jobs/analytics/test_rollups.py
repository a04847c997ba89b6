"""Roll-ups against numbers the test computes itself from the raw rows, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import select

from jobctl.data import engine_for
from jobctl.data.schema import analytics_aggregates, orders, page_views
from jobctl.data.seed import seed
from jobctl.errors import PermanentJobFailure
from jobctl.jobs.analytics.job import roll_up, run_analytics_job, stored_rollups
from jobctl.jobs.analytics.periods import floor

START = date(2026, 3, 2)  # a Monday
DAYS = 9


@pytest.fixture
def seeded(db_settings):
    engine = engine_for(db_settings)
    seed(engine, days=DAYS, users=150, seed=7, start=START)
    return engine


def expected(engine, kind: str) -> dict[datetime, dict[str, Decimal]]:
    """Every metric per period, from the raw rows, in Python: no SQL aggregate involved."""
    with engine.connect() as conn:
        views = conn.execute(select(page_views.c.occurred_at, page_views.c.visitor_id)).all()
        paid = conn.execute(
            select(orders.c.paid_at, orders.c.total_cents).where(orders.c.paid_at.is_not(None))
        ).all()
    buckets: dict[datetime, dict] = defaultdict(
        lambda: {"views": 0, "visitors": set(), "paid": 0, "cents": 0}
    )
    for occurred_at, visitor in views:
        bucket = buckets[floor(kind, occurred_at)]
        bucket["views"] += 1
        bucket["visitors"].add(visitor)
    for paid_at, cents in paid:
        bucket = buckets[floor(kind, paid_at)]
        bucket["paid"] += 1
        bucket["cents"] += cents
    out = {}
    for start, b in buckets.items():
        visitors, count, cents = len(b["visitors"]), b["paid"], b["cents"]
        out[start] = {
            "page_views": Decimal(b["views"]),
            "unique_visitors": Decimal(visitors),
            "purchases": Decimal(count),
            "revenue": Decimal(cents),
            "conversion_rate": (Decimal(count) / visitors).quantize(Decimal("0.000001"), ROUND_HALF_UP)
            if visitors
            else Decimal(0),
            "average_order_value": (Decimal(cents) / count).quantize(Decimal("0.01"), ROUND_HALF_UP)
            if count
            else Decimal(0),
        }
    return out


def stored_rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(
            (r.period_type, r.period_start, r.metric, Decimal(r.value))
            for r in conn.execute(select(analytics_aggregates))
        )


@pytest.mark.parametrize("kind", ["hourly", "daily", "weekly", "monthly"])
def test_rollups_match_the_raw_rows(seeded, db_settings, kind):
    first, last = START, START + timedelta(days=DAYS - 1)
    result = roll_up(
        seeded,
        kind,
        datetime.combine(first, datetime.min.time()),
        datetime.combine(last + timedelta(days=1), datetime.min.time()),
        _all(),
    )
    truth = expected(seeded, kind)
    rows, _ = stored_rollups(db_settings, kind, (first - timedelta(days=31), last + timedelta(days=31)))
    assert result["periods"] == len(rows)
    assert (
        sum(1 for row in rows if row["page_views"])
        >= {"hourly": 100, "daily": DAYS, "weekly": 2, "monthly": 1}[kind]
    )
    for row in rows:
        want = truth.get(row["period_start"])
        for metric in _all():
            assert row[metric] == (want[metric] if want else 0), (kind, row["period_start"], metric)


def _all():
    return ["page_views", "unique_visitors", "purchases", "revenue", "conversion_rate", "average_order_value"]


def test_rerunning_a_period_gives_the_same_rows(seeded):
    start, end = datetime(2026, 3, 2), datetime(2026, 3, 9)
    roll_up(seeded, "daily", start, end, _all())
    first = stored_rows(seeded)
    roll_up(seeded, "daily", start, end, _all())
    assert stored_rows(seeded) == first and len(first) == 7 * 6


def test_only_the_metrics_asked_for_are_written(seeded):
    result = roll_up(seeded, "daily", datetime(2026, 3, 3), datetime(2026, 3, 4), ["page_views", "revenue"])
    assert {row[2] for row in stored_rows(seeded)} == {"page_views", "revenue"}
    assert set(result["values"]) == {"page_views", "revenue"}


def test_a_scheduled_job_rolls_up_the_period_before_it_fired(seeded):
    result = run_analytics_job(
        {"type": "daily", "schedule": "analytics-daily", "occurrence": "2026-03-05T00:15:00+00:00"}
    )
    assert (result["start"], result["end"], result["periods"]) == (
        "2026-03-04T00:00:00",
        "2026-03-05T00:00:00",
        1,
    )
    truth = expected(seeded, "daily")[datetime(2026, 3, 4)]
    assert result["values"]["revenue"] == str(truth["revenue"])
    weekly = run_analytics_job({"type": "weekly", "occurrence": "2026-03-09T00:30:00+00:00"})
    assert (weekly["start"], weekly["end"]) == ("2026-03-02T00:00:00", "2026-03-09T00:00:00")


def test_a_bad_payload_fails_permanently(db_settings):
    with pytest.raises(PermanentJobFailure, match="unknown analytics type"):
        run_analytics_job({"type": "yearly", "start": "2026-03-01", "end": "2026-03-02"})


def test_concurrent_rollups_of_the_same_range_all_succeed(seeded):
    from concurrent.futures import ThreadPoolExecutor

    start, end = datetime(2026, 3, 2), datetime(2026, 3, 11)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: roll_up(seeded, "daily", start, end, _all()), range(4)))
    assert [r["rows"] for r in results] == [9 * 6] * 4
    assert len(stored_rows(seeded)) == 9 * 6
