"""Referral commission jobs (`referral-commission` queue): the payload, checked where it is
enqueued, and the RQ job function.

Payload (JSON): {"order_id": int}. The job carries no amounts, rates or status: it reads the order
as it is when it runs, so a late run, a retry or a replay from the dead-letter queue settles what
is true then (and the ledger makes any rerun harmless, see commissions.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from jobctl.core import runtime
from jobctl.core.contracts import BuildContext, Contract, Field
from jobctl.data import engine_for
from jobctl.data.schema import orders
from jobctl.errors import JobctlError, NotFound, PermanentJobFailure, UsageError
from jobctl.jobs.referrals.commissions import settle

MAX_ORDER_ID = 2**31 - 1  # orders.id is a 32-bit INTEGER on PostgreSQL


def prepare_commission_payload(order_id: Any, settings=None) -> dict[str, int]:
    """The payload for an order's commissions. With `settings`, the order must exist in their store
    (NotFound otherwise): an order that is not there will not appear later (the payment job queues
    commissions only after the order is committed), so the job could only dead-letter."""
    # bool is an int in Python, and True would quietly mean order 1
    if not isinstance(order_id, int) or isinstance(order_id, bool):
        raise UsageError(
            f"order_id must be an integer, got {order_id!r}", "e.g. add_referral_commission_job(1042)"
        )
    if not 1 <= order_id <= MAX_ORDER_ID:
        raise UsageError(
            f"order_id must be between 1 and {MAX_ORDER_ID}, got {order_id}",
            "e.g. add_referral_commission_job(1042)",
        )
    if settings is not None:
        _require_order(settings, order_id)
    return {"order_id": order_id}


def _require_order(settings, order_id: int) -> None:
    with engine_for(settings).connect() as conn:
        found = conn.execute(select(orders.c.id).where(orders.c.id == order_id)).first()
    if found is None:
        raise NotFound(
            f"no order {order_id} in the store",
            "check the order id and DATABASE_URL (jobctl db seed writes sample orders)",
        )


def _read(payload: Any) -> int:
    if not isinstance(payload, dict):
        raise UsageError(
            "referral-commission payload must be an object", "enqueue with add_referral_commission_job"
        )
    return prepare_commission_payload(payload.get("order_id"))["order_id"]


def _build(settings, fields: dict[str, Any], _context: BuildContext) -> dict[str, int]:
    return prepare_commission_payload(fields.get("order_id"), settings)


CONTRACT = Contract(
    "referral-commission",
    (Field("order_id", "int", True, "the order whose referrers are paid (or, if refunded, reversed)"),),
    build=_build,
    load=lambda payload: {"order_id": _read(payload)},
    describe=lambda payload: f"referral commission order {payload['order_id']}",
)


def run_referral_commission_job(payload: dict) -> dict[str, Any]:
    """The RQ job: pay (or reverse) one order's commissions with the configured rates; idempotent."""
    try:
        order_id = _read(payload)
    except JobctlError as exc:
        raise PermanentJobFailure(f"bad referral-commission payload: {exc.message}") from None
    settings = runtime.settings()
    try:
        return settle(engine_for(settings), order_id, settings.commission_rates, datetime.now(UTC))
    except NotFound:
        # the payment job enqueues after the order is committed: a missing order will not appear later
        raise PermanentJobFailure(f"no order {order_id} in the store") from None
