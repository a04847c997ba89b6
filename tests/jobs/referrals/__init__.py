"""Tests of referral commissions; the small explicit stores they build are here.

Money figures in the tests are worked out by hand from these stores, not from the random seed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, select

from jobctl.data import schema

T0 = datetime(2026, 11, 1, 12, 0, 0)


def add_user(conn, uid: int, name: str, referred_by: int | None = None, *, mirror: bool = True) -> int:
    """A user; `mirror` also writes the referrals row, as signing up through a referral link does."""
    conn.execute(
        insert(schema.users).values(
            id=uid,
            email=f"{name.lower()}@example.com",
            name=name,
            country="US",
            created_at=T0 + timedelta(minutes=uid),
            referred_by=referred_by,
        )
    )
    if referred_by is not None and mirror:
        conn.execute(
            insert(schema.referrals).values(
                referrer_id=referred_by, referred_id=uid, created_at=T0 + timedelta(minutes=uid)
            )
        )
    return uid


def add_order(conn, user_id: int, total_cents: int, status: str = "paid") -> int:
    paid_at = T0 + timedelta(hours=1) if status in ("paid", "refunded") else None
    return conn.execute(
        insert(schema.orders).values(
            user_id=user_id,
            status=status,
            total_cents=total_cents,
            currency="USD",
            created_at=T0,
            paid_at=paid_at,
            refunded_at=T0 + timedelta(days=1) if status == "refunded" else None,
        )
    ).inserted_primary_key[0]


def set_status(engine, order_id: int, status: str) -> None:
    with engine.begin() as conn:
        conn.execute(schema.orders.update().where(schema.orders.c.id == order_id).values(status=status))


def ledger(engine, order_id: int | None = None) -> list[tuple]:
    """(order_id, referrer_id, level, rate_bps, amount_cents, status) rows, in a stable order."""
    c = schema.commissions.c
    query = select(c.order_id, c.referrer_id, c.level, c.rate_bps, c.amount_cents, c.status)
    if order_id is not None:
        query = query.where(c.order_id == order_id)
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query.order_by(c.order_id, c.level))]


def chain_store(engine) -> dict[str, int]:
    """A <- B <- C <- D: A referred B, B referred C, C referred D (ids 1..4)."""
    with engine.begin() as conn:
        return {
            "A": add_user(conn, 1, "Ann"),
            "B": add_user(conn, 2, "Bob", 1),
            "C": add_user(conn, 3, "Cid", 2),
            "D": add_user(conn, 4, "Dee", 3),
        }
