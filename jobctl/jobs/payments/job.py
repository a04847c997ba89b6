"""Payment retries that never charge twice: the payment row is the lock, the idempotency key the proof.

Each run of a retry job (a first attempt, a retry, a job picked up after its worker was killed, a
replay from the dead-letter queue) goes through the same three steps:

1. Claim, in one write transaction: a payment already `paid` ends the job with nothing sent
   (`already_paid`). Otherwise the payment becomes `processing` under an idempotency key. The key
   is kept while the payment is pending or processing, so every re-run of the same round sends
   the provider the same key, and a provider that already captured answers with that capture
   instead of charging again. A new key (the next round, `...-r2`) is made only after a decline,
   which charged nothing.
2. Call the provider, outside any transaction (no database lock is held across the network).
3. Record the outcome: `paid` (the order too), then a receipt email and the referral commission
   job; or `failed` with the decline's reason and a payment-declined email; a transient error
   leaves the payment `processing` with its key for the next attempt, which respects Retry-After.

The follow-up jobs are enqueued at most once per payment (a Redis guard key), and again by a re-run
that finds the payment paid, so a crash between step 3's commit and the enqueue loses nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rq import get_current_job
from sqlalchemy import select, update

from jobctl.core import keyspace, runtime
from jobctl.core.contracts import BuildContext, Contract, Field
from jobctl.core.submit import submit
from jobctl.data import engine_for
from jobctl.data.engine import begin_write
from jobctl.data.schema import orders, payments, users
from jobctl.errors import PermanentJobFailure, UsageError

PROVIDERS = ("stripe", "yookassa", "crypto")
GUARD_TTL = 30 * 86400
_ROUND = re.compile(r"^jobctl-pay-(\d+)-r(\d+)$")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def as_cents(amount: Any) -> int:
    """Integer minor units, or a Decimal in major units with at most 2 places; never a float."""
    if isinstance(amount, str):  # typed (`amount=12.34`): currency units, like the CLI's --amount
        try:
            amount = Decimal(amount.strip())
        except ArithmeticError:
            raise UsageError(
                f"amount {amount!r} is not a number", "give it in currency units, e.g. 12.34"
            ) from None
    if isinstance(amount, bool | float):
        raise UsageError(
            f"amount {amount!r} is a float", "pass cents as an int (1234) or a Decimal ('12.34')"
        )
    if isinstance(amount, int):
        cents = amount
    elif isinstance(amount, Decimal):
        if amount != amount.quantize(Decimal("0.01")):
            raise UsageError(f"amount {amount} has more than 2 decimal places", "round it to cents first")
        cents = int(amount * 100)
    else:
        raise UsageError(f"amount must be int cents or a Decimal, got {type(amount).__name__}", "e.g. 1234")
    if cents <= 0:
        raise UsageError(f"amount must be positive, got {cents} cents", "pass the amount to charge")
    return cents


def key_for(payment_id: int, previous: str | None, status: str) -> str:
    """The idempotency key for this run: the stored one while its round is open, else the next round's."""
    match = _ROUND.match(previous or "")
    if previous and status in ("pending", "processing"):
        return previous  # the same round: whatever this key did at the provider, it does again, once
    round_no = int(match.group(2)) + 1 if match and int(match.group(1)) == payment_id else 1
    if previous and not match:
        round_no = 2  # a key from elsewhere (the seed, an earlier system) was round 1
    return f"jobctl-pay-{payment_id}-r{round_no}"


def _payment_row(conn, payment_id: int):
    query = (
        select(payments, orders.c.user_id, orders.c.status.label("order_status"), users.c.email, users.c.name)
        .select_from(
            payments.join(orders, payments.c.order_id == orders.c.id).join(
                users, orders.c.user_id == users.c.id
            )
        )
        .where(payments.c.id == payment_id)
    )
    return conn.execute(query).one_or_none()


def prepare_payment_payload(
    settings,
    *,
    payment_id: Any,
    provider: Any,
    amount: Any,
    currency: Any,
    customer_id: Any,
    provider_ref: Any = None,
) -> dict[str, Any]:
    """Check a retry request against the store; the payload carries what was checked."""
    if isinstance(payment_id, bool) or not isinstance(payment_id, int) or payment_id <= 0:
        raise UsageError(
            f"payment_id must be a positive integer, got {payment_id!r}", "pass the payment's id"
        )
    if provider not in PROVIDERS:
        raise UsageError(f"unknown payment provider {provider!r}", f"use one of {', '.join(PROVIDERS)}")
    cents = as_cents(amount)
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Za-z]{3}", currency):
        raise UsageError(f"currency {currency!r} is not a 3-letter code", "e.g. USD, EUR, RUB")
    currency = currency.upper()
    with engine_for(settings).connect() as conn:
        row = _payment_row(conn, payment_id)
    if row is None:
        raise UsageError(
            f"no payment {payment_id} in the store", "check the id (jobctl db status shows the store)"
        )
    mismatches = [
        f"{name} is {have!r}, not {want!r}"
        for name, have, want in (
            ("provider", row.provider, provider),
            ("amount", row.amount_cents, cents),
            ("currency", row.currency, currency),
            ("customer", str(row.user_id), str(customer_id)),
        )
        if have != want
    ]
    if mismatches:
        raise UsageError(
            f"payment {payment_id} does not match the request: {'; '.join(mismatches)}",
            "retry the payment as it is stored",
        )
    if row.status == "refunded":
        raise UsageError(f"payment {payment_id} was refunded", "a refunded payment is not charged again")
    return {
        "payment_id": payment_id,
        "provider": provider,
        "amount_cents": cents,
        "currency": currency,
        "customer_id": str(customer_id),
        "provider_ref": provider_ref or row.provider_ref,
    }


def check_payload(payload: Any) -> dict[str, Any]:
    """The worker's read of a queued payload (and a replay's check before it is queued again)."""
    if not isinstance(payload, dict) or payload.get("provider") not in PROVIDERS:
        raise UsageError("bad payment payload: no known provider", "build it with add_payment_retry_job")
    payment_id, cents = payload.get("payment_id"), payload.get("amount_cents")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (payment_id, cents)):
        raise UsageError(
            "bad payment payload: payment_id and amount_cents must be positive integers",
            "build it with add_payment_retry_job",
        )
    return payload


def _build(settings, fields: dict[str, Any], _context: BuildContext) -> dict[str, Any]:
    return prepare_payment_payload(settings, **fields)


CONTRACT = Contract(
    "payment-retry",
    (
        Field("payment_id", "int", True, "the stored payment to charge again"),
        Field("provider", "text", True, f"{', '.join(PROVIDERS)} (as stored)"),
        Field(
            "amount", "amount", True, "integer cents, or currency units as text/Decimal ('12.34'), as stored"
        ),
        Field("currency", "text", True, "3-letter code, as stored"),
        Field("customer_id", "text", True, "the paying user's id, as stored"),
        Field("provider_ref", "text", False, "the provider's reference (default: the stored one)"),
    ),
    build=_build,
    load=check_payload,
    describe=lambda payload: f"payment retry {payload['payment_id']} ({payload['provider']})",
)


def _attempt_number() -> int:
    job = get_current_job()
    return len(job.meta.get("attempts", [])) if job is not None else 1


def _claim(engine, payload: dict) -> tuple[Any, str | None]:
    """(row, key): key None when the payment is already paid."""
    with begin_write(engine) as conn:
        row = _payment_row(conn, payload["payment_id"])
        if row is None:
            raise PermanentJobFailure(f"no payment {payload['payment_id']} in the store")
        if row.status == "paid":
            return row, None
        if row.status == "refunded":
            raise PermanentJobFailure(f"payment {row.id} was refunded; not charging it again")
        if (row.provider, row.amount_cents, row.currency) != (
            payload["provider"],
            payload["amount_cents"],
            payload["currency"],
        ):
            raise PermanentJobFailure(
                f"payment {row.id} changed since the job was queued "
                f"({row.provider} {row.amount_cents} {row.currency}); queue a new retry"
            )
        key = key_for(row.id, row.idempotency_key, row.status)
        conn.execute(
            update(payments)
            .where(payments.c.id == row.id)
            .values(
                status="processing",
                idempotency_key=key,
                attempts=payments.c.attempts + 1,
                updated_at=_now(),
                provider_ref=payload.get("provider_ref") or row.provider_ref,
            )
        )
        return row, key


def _settle(engine, row, outcome: str, reason: str | None = None) -> None:
    now = _now()
    with begin_write(engine) as conn:
        conn.execute(
            update(payments)
            .where(payments.c.id == row.id)
            .values(status=outcome, failure_reason=reason, updated_at=now)
        )
        if outcome == "paid":
            conn.execute(
                update(orders)
                .where(orders.c.id == row.order_id, orders.c.status.in_(("pending", "failed")))
                .values(status="paid", paid_at=now)
            )
        elif outcome == "failed":
            conn.execute(
                update(orders)
                .where(orders.c.id == row.order_id, orders.c.status == "pending")
                .values(status="failed")
            )


def _once(guard: str, enqueue) -> str | None:
    """Run `enqueue` unless a run for this guard already did (a SET NX key in Redis)."""
    connection = runtime.connection()
    name = f"{keyspace.JOBCTL}:once:{guard}"
    if not connection.set(name, "1", nx=True, ex=GUARD_TTL):
        return None
    try:
        return enqueue()
    except BaseException:
        connection.delete(name)  # not sent: let the next run try
        raise


def _email(settings, row, template: str, data: dict) -> str:
    return submit(
        runtime.connection(),
        settings,
        "email",
        {
            "to": row.email,
            "template": template,
            "data": {
                "name": row.name,
                "order_id": row.order_id,
                "amount": f"{Decimal(row.amount_cents).scaleb(-2):.2f}",
                "currency": row.currency,
                **data,
            },
        },
        priority="high",
    )


def _after_paid(settings, row, reference: str) -> dict[str, Any]:
    paid_at = _now().strftime("%Y-%m-%d %H:%M UTC")
    receipt = _once(
        f"receipt:payment:{row.id}",
        lambda: _email(
            settings,
            row,
            "payment-receipt",
            {
                "provider": row.provider,
                "reference": reference,
                "paid_at": paid_at,
                "order_url": f"{settings.shop_url.rstrip('/')}/orders/{row.order_id}",
            },
        ),
    )
    commission = _once(
        f"commission:order:{row.order_id}",
        lambda: submit(runtime.connection(), settings, "referral-commission", {"order_id": row.order_id}),
    )
    return {"receipt_job": receipt, "commission_job": commission}


def run_payment_retry(payload: dict) -> dict[str, Any]:
    """The payment-retry job: charge once, whatever happens around it (see the module doc)."""
    # processes that submit or list payment-retry jobs import this module for its contract
    from jobctl.jobs.payments.providers import get_provider  # lazy: httpx (~80 ms) only when the job runs
    from jobctl.jobs.payments.providers.base import (  # lazy: as above
        ChargeRequest,
        PaymentDeclined,
        ProviderRejected,
        ProviderUnavailable,
    )

    settings = runtime.settings()
    try:
        check_payload(payload)
    except UsageError as exc:
        raise PermanentJobFailure(exc.message) from None
    engine = engine_for(settings)
    row, key = _claim(engine, payload)
    result = {"payment_id": row.id, "order_id": row.order_id, "provider": row.provider}
    if key is None:
        return {**result, "status": "already_paid", **_after_paid(settings, row, row.idempotency_key or "")}
    request = ChargeRequest(
        payment_id=row.id,
        provider_ref=payload.get("provider_ref") or row.provider_ref,
        amount_cents=row.amount_cents,
        currency=row.currency,
        customer_id=row.user_id,
        idempotency_key=key,
        description=f"order {row.order_id}",
    )
    try:
        charged = get_provider(row.provider, settings).charge(request)
    except PaymentDeclined as declined:
        reason = declined.reason
        _settle(engine, row, "failed", reason)
        _once(
            f"declined:{key}",
            lambda: _email(
                settings,
                row,
                "payment-declined",
                {
                    "reason": reason.replace("_", " "),
                    "update_payment_url": f"{settings.shop_url.rstrip('/')}/account/payment-methods",
                },
            ),
        )
        raise PermanentJobFailure(f"{row.provider} declined payment {row.id}: {reason}") from None
    except ProviderRejected:
        raise  # our configuration or request is wrong: the payment stays processing under its key
    except ProviderUnavailable as unavailable:
        limit = dict(settings.payment_attempts).get(row.provider, 5)
        if _attempt_number() >= limit:
            raise PermanentJobFailure(
                f"{row.provider} still unavailable after {limit} attempts "
                f"(JOBCTL_PAYMENT_ATTEMPTS): {unavailable}"
            ) from None
        raise
    _settle(engine, row, "paid")
    return {
        **result,
        "status": "paid",
        "idempotency_key": key,
        "provider_payment_id": charged.provider_payment_id,
        **_after_paid(settings, row, charged.provider_payment_id),
    }
