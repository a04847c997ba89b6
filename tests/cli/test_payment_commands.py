"""jobctl enqueue payment|commission: checked against the store, nothing queued on bad input."""

from __future__ import annotations

import pytest

from jobctl.core.browse import job_detail
from jobctl.core.stats import queue_stats
from jobctl.data import engine_for
from tests.jobs.payments.store import make_payment


def waiting(redis_client, settings, queue: str) -> int:
    [row] = queue_stats(redis_client, settings, queue)["queues"]
    return row["totals"]["waiting"]


@pytest.fixture
def stored(settings):
    return make_payment(engine_for(settings), amount_cents=4999, currency="USD")


def test_enqueue_payment_queues_the_checked_request(cli, settings, redis_client, stored):
    job_id = cli.json(
        "enqueue",
        "payment",
        "--payment-id",
        "1",
        "--provider",
        "stripe",
        "--amount",
        "49.99",
        "--currency",
        "usd",
        "--customer-id",
        "2",
    )["job_id"]
    detail = job_detail(redis_client, settings, job_id)
    assert (detail["type"], detail["queue"]) == ("payment-retry", "payment-retry")
    assert detail["payload"] == {
        "payment_id": 1,
        "provider": "stripe",
        "amount_cents": 4999,
        "currency": "USD",
        "customer_id": "2",
        "provider_ref": "pi_test_1",
    }


def test_enqueue_commission(cli, settings, redis_client, stored):
    job_id = cli.json("enqueue", "commission", "--order-id", str(stored["order_id"]))["job_id"]
    assert job_detail(redis_client, settings, job_id)["payload"] == {"order_id": stored["order_id"]}


def test_a_commission_for_an_order_not_in_the_store_exits_4_and_queues_nothing(
    cli, settings, redis_client, stored
):
    result = cli("enqueue", "commission", "--order-id", "999999", code=4)
    assert result.stderr.startswith("jobctl: error: no order 999999 in the store")
    assert "jobctl db seed" in result.stderr and "Traceback" not in result.stderr
    assert waiting(redis_client, settings, "referral-commission") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--amount", "49.999"], "more than 2 decimal places"),
        (["--amount", "lots"], "--amount 'lots' is not a number"),
        (["--amount", "50.00"], "amount is 4999, not 5000"),
        (["--provider", "paypal"], "unknown payment provider 'paypal'"),
        (["--payment-id", "9"], "no payment 9 in the store"),
        (["--currency", "EUR"], "currency is 'USD', not 'EUR'"),
    ],
)
def test_bad_payment_requests_exit_2_and_queue_nothing(cli, settings, redis_client, stored, args, message):
    base = {
        "--payment-id": "1",
        "--provider": "stripe",
        "--amount": "49.99",
        "--currency": "USD",
        "--customer-id": "2",
    }
    base.update(dict(zip(args[::2], args[1::2])))
    result = cli("enqueue", "payment", *[x for pair in base.items() for x in pair], code=2)
    assert message in result.stderr and result.stderr.startswith("jobctl: error: ")
    assert waiting(redis_client, settings, "payment-retry") == 0
