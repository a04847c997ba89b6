"""The provider adapters against the fake providers: real HTTP on loopback, each provider's own shapes.

The one property that matters most: however a charge fails or is retried with the same idempotency
key, the fake records at most one capture per payment.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import insert

from jobctl.core import runtime
from jobctl.data import engine_for
from jobctl.data.schema import orders, payments, users
from jobctl.errors import UsageError
from jobctl.jobs.payments.providers import get_provider
from jobctl.jobs.payments.providers.base import (
    ChargeRequest,
    PaymentDeclined,
    ProviderRejected,
    ProviderUnavailable,
    major_units,
    retry_after_seconds,
    same_amount,
)
from jobctl.jobs.payments.sandbox import YOOKASSA_SHOP_ID

PROVIDERS = ("stripe", "yookassa", "crypto")
REFS = {"stripe": "pi_3FakeIntent", "yookassa": "2c9f1b7e-000f-5000-8000-saved", "crypto": "inv_FakeInvoice"}
LABELS = {"stripe": "Stripe", "yookassa": "YooKassa", "crypto": "crypto gateway"}
KEY = "jobctl-pay-7-r1"


@pytest.fixture
def server(fake_provider):
    """The fake providers, with payment 7's PaymentIntent and invoice (12.34 USD) registered."""
    fake_provider.add_intent(REFS["stripe"], 1234, "USD", payment_id=7)
    fake_provider.add_invoice(REFS["crypto"], 1234, "USD", payment_id=7)
    return fake_provider


@pytest.fixture
def charge(server):
    """charge(provider, key=, amount=, ...): payment 7 through a fresh adapter built from the settings."""

    def run(provider, *, key=KEY, amount=1234, currency="USD", ref="default", payment_id=7):
        provider_ref = REFS[provider] if ref == "default" else ref
        request = ChargeRequest(
            payment_id=payment_id,
            provider_ref=provider_ref,
            amount_cents=amount,
            currency=currency,
            customer_id=42,
            idempotency_key=key,
            description="order 7",
        )
        return get_provider(provider, runtime.settings()).charge(request)

    return run


def charging_requests(server, provider):
    return [r for r in server.requests if r["provider"] == provider and r["behaviour"] is not None]


# -- success and what goes over the wire ---------------------------------------------------------


@pytest.mark.parametrize(
    "provider, raw_status", [("stripe", "succeeded"), ("yookassa", "succeeded"), ("crypto", "paid")]
)
def test_a_charge_succeeds_once(charge, server, provider, raw_status):
    result = charge(provider)

    assert (result.provider, result.status, result.raw_status) == (provider, "succeeded", raw_status)
    [capture] = server.captures_for(7)
    assert (capture["provider"], capture["amount_cents"], capture["currency"]) == (provider, 1234, "USD")
    assert capture["provider_payment_id"] == result.provider_payment_id
    assert capture["idempotency_key"] == KEY
    assert server.keys_seen(REFS[provider]) == [KEY]


def test_stripe_confirms_the_intent_off_session_with_the_key(charge, server):
    assert charge("stripe").provider_payment_id == REFS["stripe"]

    [request] = server.requests
    path = f"/stripe/v1/payment_intents/{REFS['stripe']}/confirm"
    assert (request["method"], request["path"]) == ("POST", path)
    assert request["headers"]["Idempotency-Key"] == KEY
    assert request["body"] == {"off_session": "true"}
    assert "Authorization" not in request["headers"]  # the fake never keeps credentials


def test_yookassa_creates_a_captured_payment_with_a_decimal_amount(charge, server):
    charge("yookassa", amount=5)

    [request] = server.requests
    assert (request["method"], request["path"]) == ("POST", "/yookassa/v3/payments")
    assert request["headers"]["Idempotence-Key"] == KEY
    assert request["body"] == {
        "amount": {"value": "0.05", "currency": "USD"},
        "capture": True,
        "payment_method_id": REFS["yookassa"],
        "description": "order 7",
        "metadata": {"payment_id": "7", "customer_id": "42"},
    }


def test_crypto_reads_the_invoice_with_the_api_key(charge, server):
    charge("crypto")

    [request] = server.requests
    assert (request["method"], request["path"]) == ("GET", f"/crypto/v1/invoices/{REFS['crypto']}")
    assert request["headers"]["Idempotency-Key"] == KEY
    assert "X-Api-Key" not in request["headers"]


@pytest.mark.parametrize("provider, ref", [("stripe", "pi_FromStore"), ("crypto", "inv_FromStore")])
def test_an_unregistered_intent_or_invoice_is_made_from_the_stores_payment(charge, server, provider, ref):
    t0 = datetime(2026, 11, 1)
    with engine_for(runtime.settings()).begin() as conn:
        conn.execute(
            insert(users).values(id=1, email="ada@example.com", name="Ada", country="DE", created_at=t0)
        )
        conn.execute(
            insert(orders).values(
                id=31, user_id=1, status="pending", total_cents=4999, currency="EUR", created_at=t0
            )
        )
        conn.execute(
            insert(payments).values(
                id=31,
                order_id=31,
                provider=provider,
                amount_cents=4999,
                currency="EUR",
                status="pending",
                created_at=t0,
                updated_at=t0,
                provider_ref=ref,
            )
        )

    charge(provider, ref=ref, amount=4999, currency="EUR", payment_id=31)

    [capture] = server.captures_for(31)
    assert (capture["provider_ref"], capture["amount_cents"], capture["currency"]) == (ref, 4999, "EUR")


# -- declines -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "provider, behaviour, reason",
    [
        ("stripe", "decline:insufficient_funds", "insufficient_funds"),
        ("stripe", "decline:expired_card", "expired_card"),
        ("stripe", "decline:card_declined", "card_declined"),
        ("stripe", "decline:requires_action", "requires_action"),
        ("yookassa", "decline:insufficient_funds", "insufficient_funds"),
        ("crypto", "decline:expired", "invoice_expired"),
        ("crypto", "decline:underpaid", "invoice_underpaid"),
        ("crypto", "decline:cancelled", "invoice_cancelled"),
    ],
)
def test_a_decline_is_permanent_with_its_reason(charge, server, provider, behaviour, reason):
    server.script(REFS[provider], [behaviour])

    with pytest.raises(PaymentDeclined) as caught:
        charge(provider)

    assert caught.value.reason == reason
    assert caught.value.retryable is False
    assert LABELS[provider] in str(caught.value)
    assert server.captures == []


def test_stripe_replays_a_decline_for_its_key_and_a_new_round_can_succeed(charge, server):
    server.script(REFS["stripe"], ["decline:insufficient_funds"])
    for _ in range(2):
        with pytest.raises(PaymentDeclined, match="402 card_error card_declined insufficient_funds"):
            charge("stripe")
    assert server.requests[-1]["replayed"] is True

    assert charge("stripe", key="jobctl-pay-7-r2").raw_status == "succeeded"
    assert [c["idempotency_key"] for c in server.captures_for(7)] == ["jobctl-pay-7-r2"]


# -- transient failures ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["500", "503", "502"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_server_error_is_transient_and_the_retry_charges_once(charge, server, provider, status):
    server.script(REFS[provider], [status])

    with pytest.raises(ProviderUnavailable) as caught:
        charge(provider)
    assert f"{LABELS[provider]} replied {status}" in str(caught.value)  # 502 is an HTML page: still read
    assert caught.value.retryable is True
    assert server.captures == []

    charge(provider)
    assert len(server.captures_for(7)) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_rate_limits_respect_retry_after(charge, server, provider):
    server.script(REFS[provider], ["429:7"])

    with pytest.raises(ProviderUnavailable, match="429") as caught:
        charge(provider)

    assert caught.value.retry_after == 7
    assert server.captures == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_lost_answer_is_retried_with_the_same_key_and_gets_the_original_capture(charge, server, provider):
    server.script(REFS[provider], ["timeout:1.5"])

    with pytest.raises(ProviderUnavailable, match="did not answer within 1s; the outcome is unknown"):
        charge(provider)
    [capture] = server.captures  # the provider charged; only its answer was lost

    result = charge(provider)

    assert result.provider_payment_id == capture["provider_payment_id"]
    assert len(server.captures_for(7)) == 1
    assert server.keys_seen(REFS[provider]) == [KEY]
    if provider != "crypto":  # a crypto read shows the invoice as it is; the others replay the first answer
        assert charging_requests(server, provider)[-1]["replayed"] is True


@pytest.mark.parametrize(
    "provider, waiting",
    [("stripe", "processing"), ("yookassa", "pending"), ("crypto", "pending"), ("crypto", "confirming")],
)
def test_a_charge_still_processing_is_retried_until_it_settles(charge, server, provider, waiting):
    server.script(REFS[provider], [f"{waiting}:0.3"])

    with pytest.raises(ProviderUnavailable, match=f"is {waiting}|still {waiting}") as caught:
        charge(provider)
    assert server.captures == []
    if provider == "crypto":
        assert caught.value.retry_after == 1  # the invoice's own retry_after

    time.sleep(0.35)
    result = charge(provider)

    assert result.status == "succeeded"
    assert len(server.captures_for(7)) == 1
    if provider != "crypto":  # the replayed POST said "processing": the adapter read the current state
        assert server.requests[-1]["method"] == "GET"


@pytest.mark.parametrize("provider", ["stripe", "yookassa"])
def test_a_concurrent_request_with_a_key_in_flight_is_told_to_wait(charge, server, provider):
    server.script(REFS[provider], ["hang:0.6"])
    first: list = []
    thread = threading.Thread(target=lambda: first.append(charge(provider)))
    thread.start()
    time.sleep(0.2)

    with pytest.raises(ProviderUnavailable, match=r"409|202") as caught:
        charge(provider)
    thread.join(5)

    if provider == "yookassa":
        assert caught.value.retry_after == 1.0  # YooKassa's retry_after is in milliseconds
    assert charge(provider).provider_payment_id == first[0].provider_payment_id
    assert len(server.captures_for(7)) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_many_simultaneous_retries_with_one_key_capture_once(charge, server, provider):
    server.script(REFS[provider], ["hang:0.3"])
    outcomes: list = []

    def attempt():
        try:
            outcomes.append(charge(provider).provider_payment_id)
        except ProviderUnavailable:
            outcomes.append("wait")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)

    assert len(outcomes) == 8
    assert len({o for o in outcomes if o != "wait"}) == 1  # every success is the same payment
    if provider != "crypto":  # the others answer 409 / 202 while the first request holds the key
        assert "wait" in outcomes
    assert len(server.captures_for(7)) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_dropped_connection_is_transient(charge, server, provider):
    server.script(REFS[provider], ["reset"])

    with pytest.raises(ProviderUnavailable, match=LABELS[provider]):
        charge(provider)


@pytest.mark.parametrize(
    "provider, env",
    [("stripe", "JOBCTL_STRIPE_URL"), ("yookassa", "JOBCTL_YOOKASSA_URL"), ("crypto", "JOBCTL_CRYPTO_URL")],
)
def test_a_provider_that_cannot_be_reached_is_transient(
    charge,
    monkeypatch,
    closed_port,
    provider,
    env,
):
    monkeypatch.setenv(env, f"http://127.0.0.1:{closed_port}")
    runtime.reset()

    with pytest.raises(ProviderUnavailable, match=f"cannot reach {LABELS[provider]}"):
        charge(provider)


# -- our side is wrong: rejected, never a decline --------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_same_key_with_another_amount_is_rejected(charge, server, provider):
    charge(provider)

    with pytest.raises(ProviderRejected) as caught:
        charge(provider, amount=1300)

    # YooKassa sees the new amount and refuses the key (400); Stripe and the gateway answer with the
    # original capture, whose amount no longer matches the request
    assert ("400" in str(caught.value)) if provider == "yookassa" else ("13.00 USD" in str(caught.value))
    assert len(server.captures_for(7)) == 1


@pytest.mark.parametrize(
    "provider, code", [("stripe", "idempotency_error"), ("crypto", "idempotency_key_reused")]
)
def test_the_same_key_for_another_intent_or_invoice_is_rejected(charge, server, provider, code):
    server.add_intent("pi_Other", 1234, "USD", payment_id=8)
    server.add_invoice("inv_Other", 1234, "USD", payment_id=8)
    charge(provider)

    with pytest.raises(ProviderRejected, match=f"replied 400: .*{code}"):
        charge(provider, ref={"stripe": "pi_Other", "crypto": "inv_Other"}[provider], payment_id=8)
    assert server.captures_for(8) == []


@pytest.mark.parametrize(
    "provider, env, wrong",
    [
        ("stripe", "STRIPE_API_KEY", "sk_test_wrong_0123456789abcdef"),
        ("yookassa", "YOOKASSA_SECRET_KEY", "wrong-secret-0123456789"),
        ("crypto", "CRYPTO_API_KEY", "ck_wrong_key_0123456789"),  # the fake gateway echoes a wrong key back
    ],
)
def test_bad_credentials_are_rejected_without_showing_them(charge, server, monkeypatch, provider, env, wrong):
    monkeypatch.setenv(env, wrong)
    runtime.reset()

    with pytest.raises(ProviderRejected, match="replied 401") as caught:
        charge(provider)

    message = str(caught.value)
    assert wrong not in message
    assert base64.b64encode(f"{YOOKASSA_SHOP_ID}:{wrong}".encode()).decode() not in message
    assert env in message and "\n" not in message
    assert server.captures == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_charge_for_another_amount_is_never_accepted(charge, server, provider):
    server.script(REFS[provider], ["amount:1300"])

    expected = "reports 13.00 .*payment 7 is 12.34 USD; not recording it as paid"
    with pytest.raises(ProviderRejected, match=expected):
        charge(provider)


def test_a_stripe_intent_in_another_currency_is_not_accepted(charge, server):
    server.add_intent("pi_Euro", 1234, "EUR", payment_id=7)

    with pytest.raises(ProviderRejected, match=re.escape("reports 12.34 EUR")):
        charge("stripe", ref="pi_Euro")


def test_a_coin_invoice_without_fiat_fields_is_not_converted(charge, server):
    server.add_invoice("inv_CoinOnly", 1234, "USDT", coin=None, payment_id=7)

    with pytest.raises(ProviderRejected, match=re.escape("reports 12.34 USDT")):
        charge("crypto", ref="inv_CoinOnly")


def test_a_stripe_intent_confirmed_again_under_a_new_key_reads_as_its_first_success(charge, server):
    first = charge("stripe")

    again = charge("stripe", key="jobctl-pay-7-r2")  # a new key: Stripe's state machine still says no

    assert again.provider_payment_id == first.provider_payment_id
    assert len(server.captures_for(7)) == 1


def test_yookassa_charges_again_under_a_new_key(charge, server):
    # why the caller must keep its key: for YooKassa a new key is a new payment
    charge("yookassa")
    charge("yookassa", key="jobctl-pay-7-r2")

    assert len(server.captures_for(7)) == 2


@pytest.mark.parametrize("provider", ["stripe", "crypto"])
def test_an_unknown_intent_or_invoice_is_rejected(charge, provider):
    with pytest.raises(ProviderRejected, match="replied 404"):
        charge(provider, ref={"stripe": "pi_Nope", "crypto": "inv_Nope"}[provider])


@pytest.mark.parametrize(
    "provider, env",
    [
        ("stripe", "STRIPE_API_KEY"),
        ("stripe", "JOBCTL_STRIPE_URL"),
        ("yookassa", "YOOKASSA_SHOP_ID"),
        ("yookassa", "YOOKASSA_SECRET_KEY"),
        ("yookassa", "JOBCTL_YOOKASSA_URL"),
        ("crypto", "CRYPTO_API_KEY"),
        ("crypto", "JOBCTL_CRYPTO_URL"),
    ],
)
def test_missing_settings_are_rejected_naming_the_variable(charge, server, monkeypatch, provider, env):
    monkeypatch.setenv(env, "")
    runtime.reset()

    with pytest.raises(ProviderRejected, match=f"{LABELS[provider]}: {env} is not set") as caught:
        charge(provider)

    assert env in caught.value.hint or "environment" in caught.value.hint
    assert server.requests == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_payment_without_provider_ref_is_rejected(charge, server, provider):
    with pytest.raises(ProviderRejected, match="provider_ref"):
        charge(provider, ref=None)
    assert server.requests == []


@pytest.mark.parametrize(
    "change, message",
    [
        ({"amount": 12.34}, "not a positive whole number of cents"),
        ({"amount": 0}, "not a positive whole number of cents"),
        ({"key": "bad\nkey"}, "unusable idempotency key"),
        ({"key": "k" * 65}, "unusable idempotency key"),  # YooKassa takes at most 64 characters
        ({"currency": "US"}, "not a 3-letter code"),
    ],
)
def test_requests_no_provider_should_see_are_rejected_before_sending(charge, server, change, message):
    with pytest.raises(ProviderRejected, match=message):
        charge("yookassa", **change)
    assert server.requests == []


def test_an_unknown_provider_is_a_usage_error(settings):
    with pytest.raises(UsageError, match="unknown payment provider 'paypal'"):
        get_provider("paypal", settings)


# -- helpers ---------------------------------------------------------------------------------------


def test_amounts_are_exact_decimal_strings():
    assert [major_units(c) for c in (1234, 5, 100, 0)] == ["12.34", "0.05", "1.00", "0.00"]
    assert same_amount("12.34", 1234) and same_amount("12.340", 1234) and not same_amount("12.35", 1234)
    assert not same_amount(None, 1234) and not same_amount("twelve", 1234) and not same_amount(True, 100)


def test_retry_after_takes_seconds_or_an_http_date():
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("-3") == 0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 115 <= retry_after_seconds(later) <= 120
    past = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    assert retry_after_seconds(past) == 0
