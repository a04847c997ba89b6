"""The commission ledger: what an order pays up its buyer's referral chain, written exactly once.

A paid order pays level 1 (the buyer's referrer), level 2 (that referrer's referrer) and so on,
one level per configured rate (basis points, level 1 first). Each payment is a `commissions` row,
unique per (order, referrer, level).

Why a retry, a crash or a replay from the dead-letter queue cannot pay twice:
- an order is settled in one transaction (`settle` uses `begin_write`), so a crash leaves all of
  its rows or none;
- the order row is locked first (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already
  serializes writers), so two jobs for one order run one after the other and the second finds
  the first one's rows;
- an order that already has ledger rows gets no new ones: if the buyer's referrer changed since,
  or the rates did, the order stays settled as it was, never paid a second time to someone else;
- the inserts are ON CONFLICT (order_id, referrer_id, level) DO NOTHING, so even a caller that
  skips the lock cannot write a duplicate.

A refund turns every 'earned' row of the order into 'reversed'. A row never goes back to 'earned'.
Refund before the commission job ran (the job was late, or waited in the dead-letter queue): the
rows the sale would have paid are written already 'reversed'. The ledger then ends the same
whichever ran first, and shows that the refunded sale was handled rather than never looked at.

Who referred whom: `users.referred_by`, or the `referrals` row when that column is empty (the two
normally agree; seeding writes both). The walk up the chain stops at a user without a referrer
and at a cycle (someone already on the chain, the buyer included): nobody earns twice on one
order, and nobody earns on their own purchase.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.engine import Connection, Engine

from jobctl.data.engine import begin_write
from jobctl.data.schema import commissions, orders, referrals, users
from jobctl.errors import NotFound

BASIS_POINTS = 10_000


def commission_cents(total_cents: int, rate_bps: int) -> int:
    """total x rate, rounded half up to a whole cent (1234.5 -> 1235), exactly: no float."""
    return int(Decimal(total_cents * rate_bps).scaleb(-4).quantize(Decimal(1), ROUND_HALF_UP))


def referral_links() -> Select:
    """(user_id, referrer_id) for every user; referrer_id is None for users nobody referred.

    The one definition of "who referred whom", shared by the chain walk and the statistics."""
    return select(
        users.c.id.label("user_id"),
        func.coalesce(users.c.referred_by, referrals.c.referrer_id).label("referrer_id"),
    ).select_from(users.outerjoin(referrals, referrals.c.referred_id == users.c.id))


def referral_chain(conn: Connection, buyer_id: int, depth: int) -> list[int]:
    """The buyer's referrers, level 1 first, at most `depth` of them (see the module doc for stops).

    One indexed lookup per level; depth is the number of configured rates (10 at most)."""
    links = referral_links().subquery()
    chain: list[int] = []
    seen, current = {buyer_id}, buyer_id
    while len(chain) < depth:
        referrer = conn.scalar(select(links.c.referrer_id).where(links.c.user_id == current))
        if referrer is None or referrer in seen:
            break
        chain.append(referrer)
        seen.add(referrer)
        current = referrer
    return chain


def _insert(conn: Connection):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert  # lazy: just this dialect

        return postgresql_insert(commissions)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert  # lazy: just this dialect

    return sqlite_insert(commissions)


def record_commissions(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ledger rows, skipping any whose (order, referrer, level) is already there; returns
    how many were new. Row by row: a chain is a few levels, and each count is exact."""
    statement = _insert(conn).on_conflict_do_nothing(index_elements=["order_id", "referrer_id", "level"])
    if conn.dialect.name == "postgresql":
        # a PostgreSQL insert returns its new id, which leaves rowcount at -1: count returned rows instead
        statement = statement.returning(commissions.c.id)
        return sum(len(conn.execute(statement, row).all()) for row in rows)
    return sum(conn.execute(statement, row).rowcount for row in rows)


def planned_commissions(
    conn: Connection, order, rates_bps: Sequence[int], status: str, now: datetime
) -> list[dict[str, Any]]:
    """The rows this order pays under these rates; a level whose rate is 0 pays nothing but the
    chain still goes through it to the next level."""
    chain = referral_chain(conn, order.user_id, len(rates_bps))
    return [
        {
            "order_id": order.id,
            "referrer_id": referrer_id,
            "level": level,
            "rate_bps": rate,
            "amount_cents": commission_cents(order.total_cents, rate),
            "status": status,
            "created_at": now,
            "reversed_at": now if status == "reversed" else None,
        }
        for level, (referrer_id, rate) in enumerate(zip(chain, rates_bps), start=1)
        if rate > 0
    ]


def ledger_rows(conn: Connection, order_id: int) -> list[dict[str, Any]]:
    """The order's commissions as they stand, level first."""
    result = conn.execute(
        select(
            commissions.c.level,
            commissions.c.referrer_id,
            commissions.c.rate_bps,
            commissions.c.amount_cents,
            commissions.c.status,
        )
        .where(commissions.c.order_id == order_id)
        .order_by(commissions.c.level, commissions.c.referrer_id)
    )
    return [{**row._mapping, "amount_cents": int(row.amount_cents)} for row in result]


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def settle_order(conn: Connection, order_id: int, rates_bps: Sequence[int], now: datetime) -> dict[str, Any]:
    """Bring the ledger in line with the order: pay a paid order, reverse a refunded one, skip the rest.

    Runs inside the caller's transaction, which should be a write transaction (`settle` opens one).
    Raises NotFound for an unknown order.
    """
    now = _naive_utc(now)
    order = conn.execute(
        select(orders.c.id, orders.c.user_id, orders.c.status, orders.c.total_cents)
        .where(orders.c.id == order_id)
        .with_for_update()
    ).one_or_none()
    if order is None:
        raise NotFound(f"no order {order_id} in the store", "check the order id, and DATABASE_URL")
    if order.status == "paid":
        return _earn(conn, order, rates_bps, now)
    if order.status == "refunded":
        return _reverse(conn, order, rates_bps, now)
    return {
        "order_id": order.id,
        "status": "skipped",
        "reason": f"order {order.id} is {order.status}: nothing to pay until it is paid",
    }


def _earn(conn: Connection, order, rates_bps: Sequence[int], now: datetime) -> dict[str, Any]:
    already = len(ledger_rows(conn, order.id))
    created = 0
    if not already:
        created = record_commissions(conn, planned_commissions(conn, order, rates_bps, "earned", now))
    return {
        "order_id": order.id,
        "status": "earned",
        "created": created,
        "already": already,
        "commissions": ledger_rows(conn, order.id),
    }


def _reverse(conn: Connection, order, rates_bps: Sequence[int], now: datetime) -> dict[str, Any]:
    before = ledger_rows(conn, order.id)
    created = 0
    if not before:
        created = record_commissions(conn, planned_commissions(conn, order, rates_bps, "reversed", now))
    reversed_now = conn.execute(
        update(commissions)
        .where(commissions.c.order_id == order.id, commissions.c.status == "earned")
        .values(status="reversed", reversed_at=now)
    ).rowcount
    return {
        "order_id": order.id,
        "status": "reversed",
        "created": created,
        "reversed": reversed_now,
        "already": sum(1 for row in before if row["status"] == "reversed"),
        "commissions": ledger_rows(conn, order.id),
    }


def settle(
    engine: Engine, order_id: int, rates_bps: Sequence[int], now: datetime | None = None
) -> dict[str, Any]:
    """settle_order in a write transaction of its own (what the job runs)."""
    with begin_write(engine) as conn:
        return settle_order(conn, order_id, rates_bps, now or datetime.now(UTC))
