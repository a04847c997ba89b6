"""Sample data that runs: `jobctl db seed`, then payment retries charged by a real worker through the
packaged payment sandbox (started with start_sandbox, read over its HTTP captures endpoint), and
commissions for seeded orders."""

from __future__ import annotations

import json
import urllib.request

import pytest
from sqlalchemy import func, select

from jobctl.config import load_settings
from jobctl.core import dlq, runtime
from jobctl.core.browse import job_detail
from jobctl.data import engine_for
from jobctl.data.schema import commissions, orders, payments, users
from jobctl.jobs.payments.sandbox import environment, start_sandbox
from tests.conftest import Cli
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

# small, and chosen so that each provider has a seeded payment the sandbox charges and some decline
SEED = ("--days", "7", "--users", "300", "--seed", "3", "--start", "2026-01-05")
CHARGEABLE = ("pending", "failed")


cli = Cli()  # in-process commands (the worker is a process of its own)


@pytest.fixture
def seeded(monkeypatch, tmp_path):
    """A seeded store, and a sandbox (with that store's payments) that jobctl's providers point at."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("JOBCTL_PAYMENT_TIMEOUT", "5")
    monkeypatch.setenv("JOBCTL_HEARTBEAT_INTERVAL", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    runtime.reset()
    cli("db", "seed", *SEED)
    settings = load_settings()
    base_url, stop = start_sandbox(settings=settings)
    for name, value in environment(base_url).items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    yield {"engine": engine_for(settings), "sandbox": base_url}
    stop()


def captures(base_url: str) -> list[dict]:
    with urllib.request.urlopen(f"{base_url}/sandbox/captures", timeout=5) as reply:
        return json.load(reply)


def seeded_payments(engine) -> list:
    query = (
        select(payments, orders.c.user_id)
        .select_from(payments.join(orders, payments.c.order_id == orders.c.id))
        .order_by(payments.c.id)
    )
    with engine.connect() as conn:
        return conn.execute(query).all()


def payment(engine, payment_id: int):
    with engine.connect() as conn:
        return conn.execute(select(payments).where(payments.c.id == payment_id)).one()


def first_chargeable(rows: list, provider: str):
    found = [
        r
        for r in rows
        if r.provider == provider and r.status in CHARGEABLE and "_decline_" not in r.provider_ref
    ]
    assert found, f"the seed ({' '.join(SEED)}) has no {provider} payment to charge"
    return found[0]


def enqueue_retry(row) -> str:
    return cli.json(
        "enqueue",
        "payment",
        "--payment-id",
        str(row.id),
        "--provider",
        row.provider,
        "--amount",
        f"{row.amount_cents / 100:.2f}",
        "--currency",
        row.currency,
        "--customer-id",
        str(row.user_id),
    )["job_id"]


def finished(redis_client, job_id: str) -> dict | None:
    detail = job_detail(redis_client, load_settings(), job_id, reveal=True)
    return detail if detail["status"] == "finished" else None


def test_seeded_payments_of_every_provider_are_charged_through_the_sandbox(procs, seeded, redis_client):
    engine, sandbox = seeded["engine"], seeded["sandbox"]
    rows = seeded_payments(engine)
    assert all(r.provider_ref for r in rows)  # every seeded payment names its provider's object
    chosen = [first_chargeable(rows, provider) for provider in ("stripe", "yookassa", "crypto")]
    declining = next(
        r for r in rows if r.status == "failed" and r.provider_ref.endswith("_decline_insufficient_funds")
    )
    jobs = {row.id: enqueue_retry(row) for row in [*chosen, declining]}
    procs.jobctl("worker", "start", "--queue", "payment-retry")

    for row in chosen:
        wait_for(
            lambda row=row: finished(redis_client, jobs[row.id]),
            timeout=40,
            what=f"{row.provider} payment {row.id}",
        )
        assert payment(engine, row.id).status == "paid"
        result = job_detail(redis_client, load_settings(), jobs[row.id], reveal=True)["result"]
        assert (result["status"], result["provider"]) == ("paid", row.provider)
    taken = {c["payment_id"]: c for c in captures(sandbox)}
    assert sorted(taken) == sorted(row.id for row in chosen)  # the declined one took nothing
    for row in chosen:
        assert (taken[row.id]["provider"], taken[row.id]["amount_cents"]) == (row.provider, row.amount_cents)

    # a decline is permanent: the payment is failed with the reason, the job goes to the DLQ at once
    wait_for(
        lambda: dlq.read_entry(redis_client, jobs[declining.id]),
        timeout=40,
        what="the declined retry's DLQ entry",
    )
    declined = payment(engine, declining.id)
    assert declined.status == "failed"
    assert declined.failure_reason in ("insufficient_funds", "invoice_underpaid")
    assert declined.attempts == declining.attempts + 1  # one attempt: declines are not retried


def test_repeating_a_retry_charges_once(procs, seeded, redis_client):
    engine, sandbox = seeded["engine"], seeded["sandbox"]
    rows = seeded_payments(engine)
    chosen = [first_chargeable(rows, provider) for provider in ("stripe", "yookassa", "crypto")]
    # two retries of each queued before any worker runs: the second finds the payment paid
    jobs = [enqueue_retry(row) for row in chosen for _ in range(2)]
    procs.jobctl("worker", "start", "--queue", "payment-retry")
    for job_id in jobs:
        wait_for(lambda job_id=job_id: finished(redis_client, job_id), timeout=40, what=f"retry {job_id}")
    again = [enqueue_retry(row) for row in chosen]  # and once more, after it was paid
    for job_id in again:
        wait_for(lambda job_id=job_id: finished(redis_client, job_id), timeout=40, what=f"retry {job_id}")

    settings = load_settings()
    outcomes = [job_detail(redis_client, settings, j, reveal=True)["result"]["status"] for j in jobs + again]
    assert sorted(outcomes) == sorted(["paid"] * 3 + ["already_paid"] * 6)
    taken = captures(sandbox)
    assert sorted(c["payment_id"] for c in taken) == sorted(row.id for row in chosen)  # once each


def test_commissions_are_queued_for_seeded_orders_only(procs, seeded, redis_client):
    engine = seeded["engine"]
    with engine.connect() as conn:
        # a paid order whose buyer was referred: it earns at least one commission
        order_id = (
            conn.execute(
                select(orders.c.id)
                .join(users, orders.c.user_id == users.c.id)
                .where(orders.c.status == "paid", users.c.referred_by.is_not(None))
                .order_by(orders.c.id)
            )
            .scalars()
            .first()
        )
    assert order_id is not None

    missing = cli("enqueue", "commission", "--order-id", "999999", code=4)
    assert missing.stderr.startswith("jobctl: error: no order 999999 in the store")
    assert cli.json("queue", "show", "referral-commission")["total"] == 0  # nothing was queued

    job_id = cli.json("enqueue", "commission", "--order-id", str(order_id))["job_id"]
    procs.jobctl("worker", "start", "--queue", "referral-commission")
    wait_for(lambda: finished(redis_client, job_id), timeout=40, what="the commission job")
    with engine.connect() as conn:
        written = conn.scalar(
            select(func.count()).select_from(commissions).where(commissions.c.order_id == order_id)
        )
    assert written >= 1
