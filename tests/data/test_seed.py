"""Sample data: reproducible to the row, realistic in shape, never written over existing data."""

from __future__ import annotations

import collections
import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from jobctl.data import migrations, schema
from jobctl.data.engine import get_engine, new_engine
from jobctl.data.seed import row_counts, seed
from jobctl.errors import UsageError

START = date(2026, 11, 2)  # a Monday
DAYS = 7
END = datetime(2026, 11, 9)
SMALL = {"days": DAYS, "users": 300, "start": START, "views_per_day": 2000}


@pytest.fixture
def engine(database_url):
    engine = get_engine(database_url)
    migrations.migrate(engine)
    return engine


def checksum(engine) -> str:
    """Every row of every table, in primary-key order."""
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for table in schema.TABLES:
            for row in conn.execute(select(table).order_by(*table.primary_key.columns)):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def rows(engine, table) -> list:
    with engine.connect() as conn:
        return conn.execute(select(table).order_by(*table.primary_key.columns)).all()


def test_same_arguments_same_rows_on_any_backend(engine, tmp_path):
    counts = seed(engine, seed=7, **SMALL)
    reference = new_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    try:
        migrations.migrate(reference)
        assert seed(reference, seed=7, **SMALL) == counts
        assert checksum(engine) == checksum(reference)
    finally:
        reference.dispose()


def test_another_seed_gives_other_rows_and_replace_restarts_ids(engine):
    seed(engine, seed=1, **SMALL)
    first = checksum(engine)
    seed(engine, seed=2, replace=True, **SMALL)
    assert checksum(engine) != first
    seed(engine, seed=1, replace=True, **SMALL)
    assert checksum(engine) == first  # ids included: a replace is as good as a fresh store


def test_counts_match_the_tables_and_derived_tables_stay_empty(engine):
    counts = seed(engine, seed=42, **SMALL)
    stored = row_counts(engine)
    for name, n in counts.items():
        assert stored[name] == n, name
    assert counts["users"] == 300
    assert counts["products"] == 12  # users / 25
    assert 10_000 <= counts["page_views"] <= 22_000  # 7 days around 2000 a day, plus a promotion day
    assert counts["payments"] == counts["orders"]
    assert stored["commissions"] == stored["analytics_aggregates"] == stored["reports"] == 0


def test_users_and_referral_chains(engine):
    seed(engine, seed=42, **SMALL)
    users = rows(engine, schema.users)
    by_id = {u.id: u for u in users}
    referred = [u for u in users if u.referred_by is not None]
    assert 0.2 <= len(referred) / len(users) <= 0.4
    assert all(by_id[u.referred_by].created_at <= u.created_at and u.referred_by < u.id for u in referred)
    assert sorted((r.referrer_id, r.referred_id) for r in rows(engine, schema.referrals)) == sorted(
        (u.referred_by, u.id) for u in referred
    )

    def depth(uid: int) -> int:
        n = 0
        while by_id[uid].referred_by is not None:
            uid, n = by_id[uid].referred_by, n + 1
        return n

    assert max(depth(u.id) for u in users) >= 3
    assert sum(1 for u in users if u.created_at < datetime(2026, 11, 2)) >= 30  # some signed up earlier
    assert len({u.email for u in users}) == len(users)
    assert all(len(u.country) == 2 for u in users)


def test_orders_add_up_and_payments_match(engine):
    seed(engine, seed=42, **SMALL)
    items = collections.defaultdict(int)
    for item in rows(engine, schema.order_items):
        assert 1 <= item.quantity <= 3
        items[item.order_id] += item.quantity * item.unit_price_cents
    orders = rows(engine, schema.orders)
    payments = {p.order_id: p for p in rows(engine, schema.payments)}
    assert len(orders) >= 50
    statuses = collections.Counter(o.status for o in orders)
    assert set(statuses) <= set(schema.ORDER_STATUSES)
    assert (statuses["paid"] + statuses["refunded"]) / len(orders) >= 0.8
    for order in orders:
        assert order.total_cents == items[order.id] > 0
        assert order.currency == "USD"
        payment = payments[order.id]
        assert (payment.status, payment.amount_cents) == (order.status, order.total_cents)
        assert payment.provider in schema.PAYMENT_PROVIDERS
        if order.status in ("paid", "refunded"):
            assert order.created_at <= order.paid_at <= order.created_at + timedelta(minutes=10)
        else:
            assert order.paid_at is None
        if order.status == "refunded":
            assert order.refunded_at > order.paid_at
        else:
            assert order.refunded_at is None
        if order.status == "failed":
            assert payment.failure_reason in {
                "card_declined",
                "insufficient_funds",
                "expired_card",
                "processing_error",
                "fraud_suspected",
            }
        else:
            assert payment.failure_reason is None


def test_page_views_have_weekly_and_daily_rhythm(engine):
    seed(engine, seed=42, **SMALL)
    views = rows(engine, schema.page_views)
    assert all(datetime(2026, 10, 1) < v.occurred_at < END for v in views)
    per_day = collections.Counter(v.occurred_at.date() for v in views)
    weekday = sorted(n for d, n in per_day.items() if d.weekday() < 5)
    weekend = [n for d, n in per_day.items() if d.weekday() >= 5]
    assert max(weekend) < weekday[len(weekday) // 2]  # weekends are quieter than a typical weekday
    per_hour = collections.Counter(v.occurred_at.hour for v in views)
    assert sum(per_hour[h] for h in range(2, 6)) * 2 < sum(per_hour[h] for h in range(17, 21))
    logged_in = [v for v in views if v.user_id is not None]
    assert all(v.visitor_id == f"u{v.user_id}" for v in logged_in)
    anonymous = {v.visitor_id for v in views if v.user_id is None}
    assert anonymous and all(len(a) == 16 and int(a, 16) >= 0 for a in anonymous)
    assert sum(1 for v in views if v.product_id is not None) / len(views) > 0.3
    assert all(v.path == f"/p/{v.product_id}" for v in views if v.product_id is not None)
    checkouts = sum(1 for v in views if v.path == "/checkout")
    assert checkouts == len(rows(engine, schema.orders))


def test_nothing_is_dated_after_the_window(engine):
    seed(engine, seed=42, **SMALL)
    with engine.connect() as conn:
        for column in (
            schema.users.c.created_at,
            schema.products.c.created_at,
            schema.orders.c.created_at,
            schema.orders.c.paid_at,
            schema.orders.c.refunded_at,
            schema.payments.c.updated_at,
            schema.page_views.c.occurred_at,
            schema.referrals.c.created_at,
        ):
            assert conn.scalar(select(func.max(column))) < END, column


def test_refuses_to_write_over_data(engine):
    seed(engine, seed=42, **SMALL)
    before = checksum(engine)
    with pytest.raises(UsageError, match=r"already holds data \(users: 300, products: 12"):
        seed(engine, seed=43, **SMALL)
    assert checksum(engine) == before


def test_replace_clears_derived_tables_but_keeps_reports(engine):
    seed(engine, seed=42, **SMALL)
    now = datetime(2026, 11, 9)
    with engine.begin() as conn:
        conn.execute(
            schema.commissions.insert().values(
                order_id=1,
                referrer_id=1,
                level=1,
                rate_bps=500,
                amount_cents=10,
                status="earned",
                created_at=now,
            )
        )
        conn.execute(
            schema.analytics_aggregates.insert().values(
                period_type="daily", period_start=now, metric="views", value=1, computed_at=now
            )
        )
        conn.execute(
            schema.reports.insert().values(
                kind="daily",
                period_start=now.date(),
                period_end=now.date(),
                format="csv",
                path="/r.csv",
                sha256="0" * 64,
                size=1,
                created_at=now,
            )
        )
    seed(engine, seed=42, replace=True, **SMALL)
    counts = row_counts(engine)
    assert counts["commissions"] == counts["analytics_aggregates"] == 0
    assert counts["reports"] == 1


def test_new_rows_after_seeding_get_fresh_ids(engine):
    """Seeding writes explicit ids; PostgreSQL's sequences must have moved past them."""
    seed(engine, seed=42, **SMALL)
    with engine.begin() as conn:
        new_id = conn.execute(
            schema.users.insert().values(email="new@example.com", name="New", country="US", created_at=END)
        ).inserted_primary_key[0]
        view_id = conn.execute(
            schema.page_views.insert().values(visitor_id="u1", user_id=1, path="/", occurred_at=END)
        ).inserted_primary_key[0]
    assert new_id == 301
    assert view_id == row_counts(engine)["page_views"]


def test_progress_reports_every_stage_to_its_end(engine):
    calls = []
    seed(engine, seed=42, on_progress=lambda *a: calls.append(a), **SMALL)
    stages = list(dict.fromkeys(stage for _, _, stage in calls))
    assert stages == ["users", "products", "activity"]
    for stage in stages:
        done = [d for d, _, s in calls if s == stage]
        total = {t for _, t, s in calls if s == stage}
        assert done == sorted(done) and len(total) == 1 and done[-1] == total.pop()
    assert calls[-1] == (DAYS, DAYS, "activity")


def test_start_defaults_to_a_window_ending_yesterday(engine):
    seed(engine, days=2, users=50, views_per_day=100)
    today = datetime.combine(datetime.now(UTC).date(), datetime.min.time())
    with engine.connect() as conn:
        latest = conn.scalar(select(func.max(schema.page_views.c.occurred_at)))
        earliest = conn.scalar(select(func.min(schema.page_views.c.occurred_at)))
    assert today - timedelta(days=2) <= earliest and latest < today


@pytest.mark.parametrize(
    "bad, message", [({"days": 0}, "days"), ({"users": 3}, "users"), ({"views_per_day": -1}, "views per day")]
)
def test_bad_sizes_are_usage_errors(engine, bad, message):
    with pytest.raises(UsageError, match=message):
        seed(engine, **{**SMALL, **bad})
    assert row_counts(engine)["users"] == 0


def test_seeding_a_fresh_database_migrates_it_first(database_url):
    engine = get_engine(database_url)
    assert seed(engine, seed=42, **SMALL)["users"] == 300
    assert migrations.status(engine)["pending"] == []


def test_every_payment_has_a_provider_ref_the_sandbox_knows(engine):
    from jobctl.data.seed import DECLINED_AGAIN, REF_PREFIX

    seed(engine, seed=3, **SMALL)
    for payment in rows(engine, schema.payments):
        base = f"{REF_PREFIX[payment.provider]}{payment.id}"
        declines = payment.status == "failed" and payment.failure_reason in DECLINED_AGAIN
        assert payment.provider_ref == (f"{base}_decline_{payment.failure_reason}" if declines else base)
    refs = [p.provider_ref for p in rows(engine, schema.payments)]
    assert any("_decline_" in r for r in refs) and any("_decline_" not in r for r in refs)
