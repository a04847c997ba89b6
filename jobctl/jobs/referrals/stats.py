"""Referral statistics per referrer: statistics are derived, not stored.

Every figure is an SQL aggregate over the commission ledger and the marketplace tables, computed
when asked, so it can never drift from the ledger (no counter to update, nothing to repair after
a crash or a replay). The cost is fixed: one query for the referrers (GROUP BYs joined together,
sorted and limited in the database) and one for their per-level breakdown, whatever the count.

Per referrer:
    referred_users            users they referred directly (level 1)
    orders, orders_refunded   orders of those users now paid, and refunded
    commission_earned_cents   everything the ledger credited them, including what was reversed later
    commission_reversed_cents what refunds took back
    commission_net_cents      earned - reversed: what they are owed
    levels                    the same three sums and a row count, per level
Levels 2 and up come from orders of users they referred indirectly, which `orders` does not count.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, FromClause, case, func, select, true, union
from sqlalchemy.engine import Connection

from jobctl.data import engine_for
from jobctl.data.schema import commissions, orders, users
from jobctl.errors import NotFound, UsageError
from jobctl.jobs.referrals.commissions import referral_links

MAX_LIMIT = 1000


def _sum_if(condition, value):
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def _money_sums():
    """(earned, reversed) over commission rows: the aggregates both queries below share."""
    return (
        func.coalesce(func.sum(commissions.c.amount_cents), 0),
        _sum_if(commissions.c.status == "reversed", commissions.c.amount_cents),
    )


def _check(referrer_id: Any, limit: Any) -> None:
    if referrer_id is not None and (
        not isinstance(referrer_id, int) or isinstance(referrer_id, bool) or referrer_id < 1
    ):
        raise UsageError(f"referrer must be a positive user id, got {referrer_id!r}", "e.g. --referrer 42")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"limit must be between 1 and {MAX_LIMIT}, got {limit!r}", "e.g. --limit 50")


def referral_stats(conn: Connection, referrer_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Referrers by net commission (highest first, then by id), at most `limit`; or just the one
    asked for (NotFound if there is no such user), even when they have referred nobody."""
    _check(referrer_id, limit)
    links = referral_links().subquery("links")
    # with one referrer asked for, each aggregate is filtered to them rather than joined afterwards:
    # neither backend reliably pushes a join condition down into a GROUP BY
    link_filter: ColumnElement[bool]
    ledger_filter: ColumnElement[bool]
    if referrer_id is None:
        link_filter, ledger_filter = links.c.referrer_id.is_not(None), true()
    else:
        link_filter = links.c.referrer_id == referrer_id
        ledger_filter = commissions.c.referrer_id == referrer_id
    referred = (
        select(links.c.referrer_id, func.count().label("users"))
        .where(link_filter)
        .group_by(links.c.referrer_id)
        .subquery("referred")
    )
    bought = (
        select(
            links.c.referrer_id,
            _sum_if(orders.c.status == "paid", 1).label("paid"),
            _sum_if(orders.c.status == "refunded", 1).label("refunded"),
        )
        .select_from(orders.join(links, links.c.user_id == orders.c.user_id))
        .where(link_filter, orders.c.status.in_(("paid", "refunded")))
        .group_by(links.c.referrer_id)
        .subquery("bought")
    )
    earned_sum, reversed_sum = _money_sums()
    ledger = (
        select(commissions.c.referrer_id, earned_sum.label("earned"), reversed_sum.label("reversed"))
        .where(ledger_filter)
        .group_by(commissions.c.referrer_id)
        .subquery("ledger")
    )

    base: FromClause
    if referrer_id is None:
        # referrers: whoever referred someone or holds ledger rows (their link may have changed since)
        ids = union(select(referred.c.referrer_id), select(ledger.c.referrer_id)).subquery("ids")
        base, key = ids.join(users, users.c.id == ids.c.referrer_id), ids.c.referrer_id
    else:
        base, key = users, users.c.id
    earned, reversed_ = func.coalesce(ledger.c.earned, 0), func.coalesce(ledger.c.reversed, 0)
    query = select(
        key.label("referrer_id"),
        users.c.name,
        users.c.email,
        func.coalesce(referred.c.users, 0).label("referred_users"),
        func.coalesce(bought.c.paid, 0).label("orders"),
        func.coalesce(bought.c.refunded, 0).label("orders_refunded"),
        earned.label("earned"),
        reversed_.label("reversed"),
        (earned - reversed_).label("net"),
    ).select_from(
        base.outerjoin(referred, referred.c.referrer_id == key)
        .outerjoin(bought, bought.c.referrer_id == key)
        .outerjoin(ledger, ledger.c.referrer_id == key)
    )
    if referrer_id is None:
        query = query.order_by((earned - reversed_).desc(), key).limit(limit)
    else:
        query = query.where(users.c.id == referrer_id)
    rows = conn.execute(query).all()
    if referrer_id is not None and not rows:
        raise NotFound(f"no user {referrer_id} in the store", "jobctl referrals stats lists the referrers")
    levels = _levels(conn, [row.referrer_id for row in rows])
    return [
        {
            "referrer_id": row.referrer_id,
            "name": row.name,
            "email": row.email,
            "referred_users": int(row.referred_users),
            "orders": int(row.orders),
            "orders_refunded": int(row.orders_refunded),
            "commission_earned_cents": int(row.earned),
            "commission_reversed_cents": int(row.reversed),
            "commission_net_cents": int(row.net),
            "levels": levels.get(row.referrer_id, []),
        }
        for row in rows
    ]


def _levels(conn: Connection, referrer_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Per referrer, per level: ledger rows and money, in one GROUP BY over the listed referrers."""
    if not referrer_ids:
        return {}
    earned_sum, reversed_sum = _money_sums()
    result = conn.execute(
        select(
            commissions.c.referrer_id,
            commissions.c.level,
            func.count().label("rows"),
            earned_sum.label("earned"),
            reversed_sum.label("reversed"),
        )
        .where(commissions.c.referrer_id.in_(referrer_ids))
        .group_by(commissions.c.referrer_id, commissions.c.level)
        .order_by(commissions.c.referrer_id, commissions.c.level)
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for row in result:
        earned, reversed_ = int(row.earned), int(row.reversed)
        out.setdefault(row.referrer_id, []).append(
            {
                "level": row.level,
                "commissions": row.rows,
                "earned_cents": earned,
                "reversed_cents": reversed_,
                "net_cents": earned - reversed_,
            }
        )
    return out


def load_referral_stats(settings, referrer_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """What `jobctl referrals stats` prints: referral_stats on the configured store."""
    with engine_for(settings).connect() as conn:
        return referral_stats(conn, referrer_id, limit)
