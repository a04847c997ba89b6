"""The commission ledger on both backends: amounts, idempotence, refunds, races, cycles, the job."""

from __future__ import annotations

import threading
from datetime import date, datetime

import pytest
from sqlalchemy import select

from jobctl.data import engine_for, schema
from jobctl.data.seed import seed
from jobctl.errors import NotFound, PermanentJobFailure, UsageError
from jobctl.jobs.referrals.commissions import commission_cents, record_commissions, referral_chain, settle
from jobctl.jobs.referrals.job import prepare_commission_payload, run_referral_commission_job
from tests.jobs.referrals import add_order, add_user, chain_store, ledger, set_status

RATES = (1000, 300)  # 10 %, 3 %
NOW = datetime(2026, 11, 29, 9, 30)


@pytest.fixture
def engine(db_settings):
    return engine_for(db_settings)


@pytest.fixture
def chain(engine):
    """A <- B <- C <- D, and D's paid order of $123.45."""
    ids = chain_store(engine)
    with engine.begin() as conn:
        ids["order"] = add_order(conn, ids["D"], 12345)
    return ids


@pytest.mark.parametrize(
    ("total", "rate", "cents"),
    [
        (12345, 1000, 1235),  # 1234.5 rounds up
        (12345, 300, 370),  # 370.35
        (12345, 100, 123),  # 123.45
        (5, 1000, 1),  # 0.5
        (4, 1000, 0),
        (0, 1000, 0),
        (2**53 + 1, 5000, 2**52 + 1),  # (2**53 + 1) / 2: a float cannot hold 2**53 + 1, let alone halve it
    ],
)
def test_commission_cents_rounds_half_up_without_float(total, rate, cents):
    assert commission_cents(total, rate) == cents


def test_paid_order_pays_one_row_per_level(engine, chain):
    result = settle(engine, chain["order"], RATES, NOW)
    assert (result["status"], result["created"], result["already"]) == ("earned", 2, 0)
    assert result["commissions"] == [
        {"level": 1, "referrer_id": chain["C"], "rate_bps": 1000, "amount_cents": 1235, "status": "earned"},
        {"level": 2, "referrer_id": chain["B"], "rate_bps": 300, "amount_cents": 370, "status": "earned"},
    ]
    assert chain["A"] not in [row[1] for row in ledger(engine)]  # two levels configured: A is level 3


def test_a_third_rate_pays_the_third_level(engine, chain):
    settle(engine, chain["order"], (1000, 300, 100), NOW)
    paid = [(row[1], row[2], row[4]) for row in ledger(engine)]
    assert paid == [(chain["C"], 1, 1235), (chain["B"], 2, 370), (chain["A"], 3, 123)]


def test_a_zero_rate_skips_its_level_but_not_the_next(engine, chain):
    settle(engine, chain["order"], (0, 300), NOW)
    assert [(row[1], row[2]) for row in ledger(engine)] == [(chain["B"], 2)]


def test_settling_again_creates_nothing(engine, chain):
    settle(engine, chain["order"], RATES, NOW)
    again = settle(engine, chain["order"], RATES, datetime(2026, 11, 30))
    assert (again["created"], again["already"]) == (0, 2)
    assert len(ledger(engine)) == 2


def test_settled_order_is_not_paid_again_when_the_chain_or_rates_change(engine, chain):
    settle(engine, chain["order"], RATES, NOW)
    before = ledger(engine)
    with engine.begin() as conn:
        add_user(conn, 5, "Eve")
        conn.execute(schema.users.update().where(schema.users.c.id == chain["D"]).values(referred_by=5))
    again = settle(engine, chain["order"], (1000, 300, 100), NOW)
    assert again["created"] == 0 and ledger(engine) == before  # Eve gets no second level-1 commission


def test_refund_reverses_every_commission_once(engine, chain):
    settle(engine, chain["order"], RATES, NOW)
    set_status(engine, chain["order"], "refunded")
    refunded_at = datetime(2026, 11, 30, 8)
    result = settle(engine, chain["order"], RATES, refunded_at)
    assert result["status"] == "reversed"
    assert (result["created"], result["reversed"], result["already"]) == (0, 2, 0)
    assert [row[5] for row in ledger(engine)] == ["reversed", "reversed"]
    with engine.connect() as conn:
        assert set(conn.scalars(select(schema.commissions.c.reversed_at))) == {refunded_at}
    again = settle(engine, chain["order"], RATES, datetime(2026, 12, 1))
    assert (again["created"], again["reversed"], again["already"]) == (0, 0, 2)
    with engine.connect() as conn:
        assert set(conn.scalars(select(schema.commissions.c.reversed_at))) == {refunded_at}


def test_refund_before_the_commission_job_records_it_already_reversed(engine, chain):
    set_status(engine, chain["order"], "refunded")
    result = settle(engine, chain["order"], RATES, NOW)
    assert (result["created"], result["reversed"]) == (2, 0)
    assert ledger(engine) == [
        (chain["order"], chain["C"], 1, 1000, 1235, "reversed"),
        (chain["order"], chain["B"], 2, 300, 370, "reversed"),
    ]
    assert settle(engine, chain["order"], RATES, NOW)["created"] == 0


@pytest.mark.parametrize("status", ["pending", "failed"])
def test_unpaid_order_is_skipped(engine, chain, status):
    with engine.begin() as conn:
        order = add_order(conn, chain["D"], 5000, status)
    result = settle(engine, order, RATES, NOW)
    assert result["status"] == "skipped" and status in result["reason"]
    assert ledger(engine) == []


def test_unknown_order_is_not_found(engine, chain):
    with pytest.raises(NotFound, match="no order 999 in the store"):
        settle(engine, 999, RATES, NOW)


def test_concurrent_settlements_write_each_commission_once(engine, chain):
    workers = 8
    barrier, results, errors = threading.Barrier(workers), [], []

    def run():
        try:
            barrier.wait()
            results.append(settle(engine, chain["order"], RATES, NOW))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(results) == workers
    assert sum(r["created"] for r in results) == 2
    assert len(ledger(engine)) == 2


def test_the_unique_key_alone_refuses_a_second_row(engine, chain):
    row = {
        "order_id": chain["order"],
        "referrer_id": chain["C"],
        "level": 1,
        "rate_bps": 1000,
        "amount_cents": 1235,
        "status": "earned",
        "created_at": NOW,
        "reversed_at": None,
    }
    with engine.begin() as conn:
        assert record_commissions(conn, [row]) == 1
    with engine.begin() as conn:  # e.g. a writer that skipped settle_order's lock and its check
        assert record_commissions(conn, [row, {**row, "amount_cents": 9999}]) == 0
    assert ledger(engine) == [(chain["order"], chain["C"], 1, 1000, 1235, "earned")]


def test_a_referral_cycle_ends_the_chain(engine, chain):
    with engine.begin() as conn:
        # A referred by D closes the loop A <- B <- C <- D <- A; Sam referred himself
        conn.execute(
            schema.users.update().where(schema.users.c.id == chain["A"]).values(referred_by=chain["D"])
        )
        sam = add_user(conn, 6, "Sam", 6)
        sams_order = add_order(conn, sam, 1000)
        assert referral_chain(conn, chain["D"], 10) == [chain["C"], chain["B"], chain["A"]]
    settle(engine, chain["order"], (1000,) * 10, NOW)
    assert [row[1] for row in ledger(engine, chain["order"])] == [chain["C"], chain["B"], chain["A"]]
    assert settle(engine, sams_order, RATES, NOW)["created"] == 0  # nobody earns on their own purchase


def test_the_referrals_table_stands_in_for_an_empty_referred_by(engine, chain):
    with engine.begin() as conn:
        add_user(conn, 7, "Zed")
        conn.execute(schema.referrals.insert().values(referrer_id=chain["D"], referred_id=7, created_at=NOW))
        order = add_order(conn, 7, 2000)
    settle(engine, order, RATES, NOW)
    paid = [(row[1], row[2], row[4]) for row in ledger(engine, order)]
    assert paid == [(chain["D"], 1, 200), (chain["C"], 2, 60)]


def test_job_uses_the_configured_rates(db_settings, engine, chain, monkeypatch):
    from jobctl.core import runtime

    result = run_referral_commission_job({"order_id": chain["order"]})
    assert [(c["level"], c["amount_cents"]) for c in result["commissions"]] == [(1, 1235), (2, 370)]
    assert run_referral_commission_job({"order_id": chain["order"]})["created"] == 0  # a replay pays nothing

    with engine.begin() as conn:
        second = add_order(conn, chain["D"], 12345)
    monkeypatch.setenv("JOBCTL_COMMISSION_RATES", "10%,3%,1%")
    runtime.reset()
    assert run_referral_commission_job({"order_id": second})["created"] == 3


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"order_id": 999}, "no order 999 in the store"),
        ({"order_id": "12"}, "bad referral-commission payload: order_id must be an integer"),
        ({}, "bad referral-commission payload"),
        ([12], "bad referral-commission payload: referral-commission payload must be an object"),
    ],
)
def test_job_fails_permanently_when_retrying_cannot_help(db_settings, payload, message):
    with pytest.raises(PermanentJobFailure, match=message):
        run_referral_commission_job(payload)


def test_prepare_payload():
    assert prepare_commission_payload(42) == {"order_id": 42}
    for bad in (0, -3, True, "42", 4.0, None, 2**31):
        with pytest.raises(UsageError):
            prepare_commission_payload(bad)


def test_seeded_store_pays_what_the_chains_say(engine):
    seed(engine, days=5, users=200, seed=3, start=date(2026, 11, 1))
    rates = (1000, 300, 100)
    with engine.connect() as conn:
        referrer = dict(conn.execute(select(schema.users.c.id, schema.users.c.referred_by)).all())
        paid = conn.execute(
            select(schema.orders.c.id, schema.orders.c.user_id, schema.orders.c.total_cents)
            .where(schema.orders.c.status == "paid")
            .order_by(schema.orders.c.id)
        ).all()
    assert len(paid) >= 10
    for order in paid:
        settle(engine, order.id, rates, NOW)
    refunded = {paid[0].id, paid[-1].id}  # refunds after the commissions were paid
    for order_id in refunded:
        set_status(engine, order_id, "refunded")
        settle(engine, order_id, rates, NOW)

    # independently: walk referred_by in plain Python, round half up in integers
    expected = set()
    for order in paid:
        user = order.user_id
        for level, rate in enumerate(rates, start=1):
            user = referrer[user]
            if user is None:
                break
            cents = (order.total_cents * rate * 2 + 10_000) // 20_000
            status = "reversed" if order.id in refunded else "earned"
            expected.add((order.id, user, level, rate, cents, status))
    assert {row[2] for row in expected} == {1, 2, 3}  # the seed has chains three deep
    assert set(ledger(engine)) == expected and len(ledger(engine)) == len(expected)
    assert sum(r[4] for r in ledger(engine)) == sum(r[4] for r in expected)
    assert sum(settle(engine, order.id, rates, NOW)["created"] for order in paid) == 0
