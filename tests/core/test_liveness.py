"""The one liveness rule (jobctl.core.liveness) on worker records written as RQ and jobctl write them.

Records are written straight into the test's Redis namespace, so each case fixes the heartbeat age
it needs instead of waiting for it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rq import Worker
from rq.worker_registration import REDIS_WORKER_KEYS, WORKERS_BY_QUEUE_KEY

from jobctl.core import liveness
from jobctl.core.alert_rules import conditions
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.lifecycle import utc_iso
from jobctl.core.stats import list_workers, queue_stats


def register(
    conn,
    name: str,
    queues: list[str],
    age: float,
    *,
    interval: float | None = None,
    death: bool = False,
    now: datetime | None = None,
) -> str:
    """A worker record and its registrations, its last heartbeat `age` seconds before `now` (default: now)."""
    key = Worker.redis_worker_namespace_prefix + name
    stamp = utc_iso((now or datetime.now(UTC)).timestamp() - age)  # RQ's format, as jobctl's too
    fields = {
        "last_heartbeat": stamp,
        "birth": stamp,
        "queues": ",".join(queues),
        "pid": 1,
        "hostname": "h",
        "state": "idle",
    }
    if interval is not None:
        fields[liveness.INTERVAL_FIELD] = interval
    if death:
        fields["death"] = stamp
    conn.hset(key, mapping=fields)
    conn.sadd(REDIS_WORKER_KEYS, key)
    for q in queues:
        conn.sadd(WORKERS_BY_QUEUE_KEY % q, key)
    return key


def physical(settings, queue: str) -> list[str]:
    return queue_catalog(settings)[queue].physical_names


def by_name(beats) -> dict[str, bool]:
    return {b.name: b.alive for b in beats}


def test_heartbeat_within_three_intervals_is_alive(redis_client, settings):
    assert settings.heartbeat_interval == 10
    now = datetime.now(UTC)
    register(redis_client, "fresh", physical(settings, "payment-retry"), age=2, now=now)
    # 3 x 10 s + the 1 s grace
    register(redis_client, "edge", physical(settings, "payment-retry"), age=30.5, now=now)
    register(redis_client, "late", physical(settings, "payment-retry"), age=31.5, now=now)
    assert by_name(liveness.worker_beats(redis_client, settings, now)) == {
        "fresh": True,
        "edge": True,
        "late": False,
    }
    assert liveness.heartbeat_bound(10) == 31


def test_a_worker_is_judged_by_the_interval_it_recorded(redis_client, settings):
    """A worker started with JOBCTL_HEARTBEAT_INTERVAL=1 is dead after ~4 s even to a reader set to 10 s,
    and one with 60 s is alive at 100 s to a reader set to 10 s."""
    register(redis_client, "fast-dead", physical(settings, "email-sending"), age=5, interval=1)
    register(redis_client, "slow-alive", physical(settings, "email-sending"), age=100, interval=60)
    register(redis_client, "unreadable-interval", physical(settings, "email-sending"), age=5, interval="soon")
    assert by_name(liveness.worker_beats(redis_client, settings)) == {
        "fast-dead": False,
        "slow-alive": True,
        "unreadable-interval": True,
    }  # the reader's 10 s


def test_a_death_mark_or_an_expired_record_is_not_alive(redis_client, settings):
    register(redis_client, "stopped", physical(settings, "daily-reports"), age=1, death=True)
    gone = register(redis_client, "expired", physical(settings, "daily-reports"), age=1)
    redis_client.delete(gone)  # its record expired; RQ's registration sets still hold it
    beats = liveness.worker_beats(redis_client, settings)
    assert by_name(beats) == {"stopped": False}
    assert liveness.live_workers(redis_client, settings) == []
    assert queue_stats(redis_client, settings, "daily-reports")["queues"][0]["workers"] == 0


def test_counts_per_queue_count_a_worker_once_and_only_live_ones(redis_client, settings):
    both = physical(settings, "payment-retry") + physical(settings, "email-sending")
    register(redis_client, "two-queues", both, age=1)
    register(redis_client, "payments", physical(settings, "payment-retry"), age=1)
    register(redis_client, "dead", physical(settings, "payment-retry"), age=300)
    register(redis_client, "foreign", ["someone-elses-queue"], age=1)
    counts = liveness.live_counts(queue_catalog(settings), liveness.worker_beats(redis_client, settings))
    assert counts["payment-retry"] == 2 and counts["email-sending"] == 1
    assert counts["file-processing"] == 0 and counts["dead-letter"] == 0
    workers = {q["queue"]: q["workers"] for q in queue_stats(redis_client, settings)["queues"]}
    assert workers == counts


def test_worker_list_stats_and_the_no_worker_rule_agree(redis_client, settings):
    register(redis_client, "alive-one", physical(settings, "referral-commission"), age=1)
    register(redis_client, "dead-one", physical(settings, "payment-retry"), age=300)
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue="payment-retry")
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue="referral-commission")
    rows = {r["name"]: r["alive"] for r in list_workers(redis_client, settings)}
    assert rows == {"alive-one": True, "dead-one": False}
    stats = {q["queue"]: q["workers"] for q in queue_stats(redis_client, settings)["queues"]}
    assert stats["referral-commission"] == 1 and stats["payment-retry"] == 0
    no_worker = {c["subject"] for c in conditions(redis_client, settings) if c["rule"] == "no_worker"}
    assert no_worker == {"payment-retry"}


def test_prune_drops_only_registrations_whose_record_expired(redis_client, settings):
    live = register(redis_client, "live", physical(settings, "weekly-reports"), age=1)
    dead = register(redis_client, "dead-but-recorded", physical(settings, "weekly-reports"), age=300)
    gone = register(redis_client, "gone", physical(settings, "weekly-reports"), age=1)
    redis_client.delete(gone)
    removed = liveness.prune_registrations(redis_client, queue_catalog(settings))
    assert removed == 1 + 3  # the all-workers set and the three priority sets
    members = {m.decode() for m in redis_client.smembers(REDIS_WORKER_KEYS)}
    assert members == {live, dead}  # a record that still exists is kept: `worker list` shows it dead
    for q in physical(settings, "weekly-reports"):
        assert {m.decode() for m in redis_client.smembers(WORKERS_BY_QUEUE_KEY % q)} == {live, dead}
    assert liveness.prune_registrations(redis_client, queue_catalog(settings)) == 0


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2024-05-01T10:00:00.123456Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        (b"2024-05-01T10:00:00", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("not a time", None),
        (None, None),
    ],
)
def test_parse_time(raw, expected):
    assert liveness.parse_time(raw) == expected
