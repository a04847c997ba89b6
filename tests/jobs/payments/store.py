"""A few explicit rows for the payment tests: a buyer with a referrer, an order, its payment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select

from jobctl.data.schema import orders, payments, users

T0 = datetime(2026, 11, 1, 12, 0)


def make_payment(
    engine,
    *,
    provider: str = "stripe",
    amount_cents: int = 4999,
    currency: str = "USD",
    provider_ref: str = "pi_test_1",
    status: str = "pending",
    payment_id: int = 1,
    idempotency_key: str | None = None,
) -> dict:
    with engine.begin() as conn:
        if conn.execute(select(users.c.id).where(users.c.id == 1)).first() is None:
            conn.execute(
                insert(users),
                [
                    {
                        "id": 1,
                        "email": "referrer@example.com",
                        "name": "Rita",
                        "country": "DE",
                        "created_at": T0,
                    },
                    {
                        "id": 2,
                        "email": "ada@example.com",
                        "name": "Ada",
                        "country": "DE",
                        "created_at": T0,
                        "referred_by": 1,
                    },
                ],
            )
        order_id = payment_id + 100
        conn.execute(
            insert(orders).values(
                id=order_id,
                user_id=2,
                status="pending",
                total_cents=amount_cents,
                currency=currency,
                created_at=T0,
            )
        )
        conn.execute(
            insert(payments).values(
                id=payment_id,
                order_id=order_id,
                provider=provider,
                amount_cents=amount_cents,
                currency=currency,
                status=status,
                attempts=0,
                idempotency_key=idempotency_key,
                created_at=T0,
                updated_at=T0,
                provider_ref=provider_ref,
            )
        )
    return {
        "payment_id": payment_id,
        "order_id": order_id,
        "provider": provider,
        "amount_cents": amount_cents,
        "currency": currency,
        "customer_id": "2",
        "provider_ref": provider_ref,
    }


def payment_row(engine, payment_id: int = 1):
    with engine.connect() as conn:
        return conn.execute(select(payments).where(payments.c.id == payment_id)).one()


def order_row(engine, order_id: int):
    with engine.connect() as conn:
        return conn.execute(select(orders).where(orders.c.id == order_id)).one()
