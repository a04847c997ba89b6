"""The payment-retry job against the fake providers, on SQLite and PostgreSQL: never two captures."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from rq import Queue

from jobctl.core.payloads import PayloadSerializer
from jobctl.data import engine_for
from jobctl.errors import PermanentJobFailure, TransientJobFailure, UsageError
from jobctl.jobs.payments import job as payment_job
from jobctl.jobs.payments.job import key_for, prepare_payment_payload, run_payment_retry
from tests.jobs.payments.store import make_payment, order_row, payment_row


@pytest.fixture
def store(db_settings, fake_provider):
    from jobctl.core import runtime

    settings = runtime.settings()  # the fake provider's URLs and keys, and this test's database
    return engine_for(settings), settings


def payload_for(settings, made: dict) -> dict:
    return prepare_payment_payload(
        settings,
        payment_id=made["payment_id"],
        provider=made["provider"],
        amount=made["amount_cents"],
        currency=made["currency"],
        customer_id=made["customer_id"],
    )


def queued(redis_client, queue: str) -> list:
    return Queue(queue, connection=redis_client, serializer=PayloadSerializer).get_jobs()


@pytest.mark.parametrize("provider", ["stripe", "yookassa", "crypto"])
def test_success_marks_paid_sends_a_receipt_and_queues_commissions(
    store, fake_provider, redis_client, provider
):
    engine, settings = store
    made = make_payment(engine, provider=provider, provider_ref=f"{provider}-ref-1")
    result = run_payment_retry(payload_for(settings, made))
    assert result["status"] == "paid" and result["idempotency_key"] == "jobctl-pay-1-r1"
    assert payment_row(engine).status == "paid" and order_row(engine, made["order_id"]).status == "paid"
    assert len(fake_provider.captures_for(1)) == 1
    [receipt] = queued(redis_client, "email-sending:high")
    assert receipt.args[0]["template"] == "payment-receipt" and receipt.args[0]["to"] == ["ada@example.com"]
    [commission] = queued(redis_client, "referral-commission:normal")
    assert commission.args[0] == {"order_id": made["order_id"]}

    again = run_payment_retry(payload_for(settings, made))  # a replay after success
    assert again["status"] == "already_paid"
    assert len(fake_provider.captures_for(1)) == 1
    assert len(queued(redis_client, "email-sending:high")) == 1  # no second receipt


def test_a_lost_answer_is_retried_with_the_same_key_and_captured_once(store, fake_provider):
    engine, settings = store
    made = make_payment(engine)
    fake_provider.script("pi_test_1", ["timeout:2"])  # the provider charges, the answer never arrives
    with pytest.raises(TransientJobFailure):
        run_payment_retry(payload_for(settings, made))
    row = payment_row(engine)
    assert (row.status, row.idempotency_key) == ("processing", "jobctl-pay-1-r1")
    result = run_payment_retry(payload_for(settings, made))
    assert result["status"] == "paid"
    assert len(fake_provider.captures_for(1)) == 1
    assert set(fake_provider.keys_seen("pi_test_1")) == {"jobctl-pay-1-r1"}


def test_a_decline_fails_the_payment_mails_the_customer_and_is_permanent(store, fake_provider, redis_client):
    engine, settings = store
    made = make_payment(engine)
    fake_provider.script("pi_test_1", ["decline:insufficient_funds"])
    with pytest.raises(PermanentJobFailure, match="declined payment 1: insufficient_funds"):
        run_payment_retry(payload_for(settings, made))
    row = payment_row(engine)
    assert (row.status, row.failure_reason) == ("failed", "insufficient_funds")
    assert order_row(engine, made["order_id"]).status == "failed"
    assert fake_provider.captures_for(1) == []
    [mail] = queued(redis_client, "email-sending:high")
    assert mail.args[0]["template"] == "payment-declined"
    # the customer updates the card; a new retry is a new round with a new key, charged once
    result = run_payment_retry(payload_for(settings, made))
    assert result["idempotency_key"] == "jobctl-pay-1-r2" and len(fake_provider.captures_for(1)) == 1


def test_rate_limits_pass_retry_after_on(store, fake_provider):
    engine, settings = store
    made = make_payment(engine)
    fake_provider.script("pi_test_1", ["429:7"])
    with pytest.raises(TransientJobFailure) as info:
        run_payment_retry(payload_for(settings, made))
    assert info.value.retry_after == 7


def test_the_provider_attempt_limit_gives_up_permanently(store, fake_provider, monkeypatch):
    engine, settings = store
    made = make_payment(engine)
    fake_provider.script("pi_test_1", ["503"])
    monkeypatch.setattr(payment_job, "_attempt_number", lambda: dict(settings.payment_attempts)["stripe"])
    with pytest.raises(PermanentJobFailure, match="after 5 attempts"):
        run_payment_retry(payload_for(settings, made))
    assert payment_row(engine).status == "processing"  # its key is kept for a replay from the DLQ


def test_two_jobs_for_one_payment_at_once_capture_once(store, fake_provider):
    engine, settings = store
    made = make_payment(engine)
    fake_provider.script("pi_test_1", ["hang:0.5"])  # within the 1 s client timeout
    outcomes: list = []

    def attempt():
        try:
            outcomes.append(run_payment_retry(payload_for(settings, made))["status"])
        except TransientJobFailure:
            outcomes.append("transient")

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(fake_provider.captures_for(1)) == 1
    assert "paid" in outcomes
    if "transient" in outcomes:  # the loser's retry replays the winner's answer
        assert run_payment_retry(payload_for(settings, made))["status"] == "already_paid"
    assert len(fake_provider.captures_for(1)) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount": 12.5}, "is a float"),
        ({"amount": Decimal("49.991")}, "more than 2 decimal places"),
        ({"amount": 5000}, "amount is 4999, not 5000"),
        ({"provider": "paypal"}, "unknown payment provider"),
        ({"provider": "crypto"}, "provider is 'stripe', not 'crypto'"),
        ({"currency": "usdollar"}, "not a 3-letter code"),
        ({"currency": "EUR"}, "currency is 'USD', not 'EUR'"),
        ({"customer_id": 99}, "customer is '2', not '99'"),
        ({"payment_id": 404}, "no payment 404 in the store"),
        ({"payment_id": -1}, "positive integer"),
    ],
)
def test_requests_are_checked_against_the_store(store, changes, message):
    engine, settings = store
    make_payment(engine)
    request = {
        "payment_id": 1,
        "provider": "stripe",
        "amount": Decimal("49.99"),
        "currency": "usd",
        "customer_id": 2,
        **changes,
    }
    with pytest.raises(UsageError, match=message):
        prepare_payment_payload(settings, **request)


def test_keys_stay_within_a_round_and_move_on_after_a_decline():
    assert key_for(7, None, "pending") == "jobctl-pay-7-r1"
    assert key_for(7, "jobctl-pay-7-r1", "processing") == "jobctl-pay-7-r1"
    assert key_for(7, "jobctl-pay-7-r1", "failed") == "jobctl-pay-7-r2"
    assert key_for(7, "seed-7", "pending") == "seed-7"
    assert key_for(7, "seed-7", "failed") == "jobctl-pay-7-r2"
