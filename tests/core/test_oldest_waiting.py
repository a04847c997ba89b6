"""How long the oldest waiting job of each queue has waited: the heads of its physical lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rq.job import Job

from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.stats import HEADS, oldest_waiting, queue_key
from tests.redis_commands import commands_sent


def enqueued_ago(conn, job_id: str, seconds: float, now: datetime) -> None:
    """Backdate a job's enqueue time (RQ's own format), as if it had waited `seconds`."""
    at = (now - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    conn.hset(Job.key_for(job_id), "enqueued_at", at)


def test_empty_queues_have_no_age_and_the_dead_letter_queue_is_left_out(redis_client, settings):
    ages = oldest_waiting(redis_client, settings)
    assert set(ages) == set(queue_catalog(settings)) - {"dead-letter"}
    assert set(ages.values()) == {None}


def test_the_oldest_is_the_head_of_the_list(redis_client, settings):
    now = datetime.now(UTC)
    ids = enqueue_many(
        redis_client, settings, "noop", [{}] * 3, queue="email-sending", job_ids=["a", "b", "c"]
    )
    for job_id, ago in zip(ids, (600, 300, 5)):
        enqueued_ago(redis_client, job_id, ago, now)
    ages = oldest_waiting(redis_client, settings, ["email-sending", "payment-retry"], now=now)
    assert ages == {"email-sending": 600.0, "payment-retry": None}


def test_a_priority_queue_takes_the_oldest_over_its_physical_lists(redis_client, settings):
    now = datetime.now(UTC)
    enqueue_many(redis_client, settings, "noop", [{}], queue="payment-retry", priority="high", job_ids=["h"])
    enqueue_many(redis_client, settings, "noop", [{}], queue="payment-retry", priority="low", job_ids=["l"])
    enqueue_many(
        redis_client, settings, "noop", [{}], queue="payment-retry", priority="normal", job_ids=["n"]
    )
    enqueued_ago(redis_client, "h", 30, now)
    enqueued_ago(redis_client, "l", 7200, now)  # low priority: waits longest
    enqueued_ago(redis_client, "n", 60, now)
    assert oldest_waiting(redis_client, settings, ["payment-retry"], now=now) == {"payment-retry": 7200.0}


def test_a_deleted_head_does_not_hide_the_jobs_behind_it(redis_client, settings):
    now = datetime.now(UTC)
    enqueue_many(redis_client, settings, "noop", [{}] * 2, queue="email-sending", job_ids=["gone", "kept"])
    enqueued_ago(redis_client, "kept", 90, now)
    redis_client.delete(Job.key_for("gone"))  # deleted meanwhile: its id stays in the list
    assert oldest_waiting(redis_client, settings, ["email-sending"], now=now) == {"email-sending": 90.0}
    # only ids whose hash is gone: no age rather than a made-up one
    policy = queue_catalog(settings)["daily-reports"]
    redis_client.rpush(queue_key(policy.physical(policy.priority)), "never-existed")
    assert oldest_waiting(redis_client, settings, ["daily-reports"], now=now) == {"daily-reports": None}


def test_the_read_costs_the_same_for_10_and_10_000_waiting_jobs(monkeypatch, redis_client, settings):
    def sent():
        return commands_sent(monkeypatch, lambda: oldest_waiting(redis_client, settings))

    enqueue_many(redis_client, settings, "noop", [{}] * 10, queue="email-sending")
    small = sent()
    enqueue_many(redis_client, settings, "noop", [{}] * 9_990, queue="email-sending")
    assert sent() == small
    assert sum(c.startswith("HGET") for c in small) <= HEADS * 3
