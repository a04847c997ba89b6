from __future__ import annotations

import time

from rq.registry import FailedJobRegistry, FinishedJobRegistry

from jobctl.config import load_settings
from jobctl.core import keyspace
from jobctl.core.catalog import queue_catalog
from jobctl.core.retention import TRIM_BATCH, Retention


def test_trim_keeps_the_newest_across_priorities(tmp_path, redis_client):
    (tmp_path / "jobctl.toml").write_text("[queues.payment-retry]\nkeep_failed = 3\n")
    policy = queue_catalog(load_settings())["payment-retry"]
    now = time.time()
    for i, prio in enumerate(["high", "normal", "low", "high", "normal", "low"]):
        key = FailedJobRegistry(policy.physical(prio), connection=redis_client).key
        redis_client.zadd(key, {f"job{i}": now + i})
        redis_client.hset(keyspace.job_key_prefix() + f"job{i}", "status", "failed")
    removed = Retention().trim(redis_client, policy, "failed")
    assert removed == 3
    left = sorted(
        m.decode()
        for p in policy.physical_names
        for m in redis_client.zrange(FailedJobRegistry(p, connection=redis_client).key, 0, -1)
    )
    assert left == ["job3", "job4", "job5"]
    assert [redis_client.exists(keyspace.job_key_prefix() + f"job{i}") for i in range(6)] == [
        0,
        0,
        0,
        1,
        1,
        1,
    ]


def test_unlimited_policy_trims_nothing(redis_client):
    policy = queue_catalog(load_settings())["dead-letter"]
    assert Retention().trim(redis_client, policy, "completed") is None


def test_a_large_excess_drains_in_bounded_batches(tmp_path, redis_client):
    """keep_completed lowered under 25,000 finished jobs: each trim removes at most TRIM_BATCH,
    oldest first (one call used to fail on Lua's unpack limit, and with it every worker finish)."""
    (tmp_path / "jobctl.toml").write_text("[queues.daily-reports]\nkeep_completed = 100\n")
    policy = queue_catalog(load_settings())["daily-reports"]
    key = FinishedJobRegistry(policy.physical("normal"), connection=redis_client).key
    now = time.time()
    with redis_client.pipeline(transaction=False) as pipe:
        for start in range(0, 25_000, 5_000):
            pipe.zadd(key, {f"done{i}": now + i for i in range(start, start + 5_000)})
            pipe.mset({keyspace.job_key_prefix() + f"done{i}": "x" for i in range(start, start + 5_000)})
        pipe.execute()
    retention = Retention()
    removed = [retention.trim(redis_client, policy, "completed") for _ in range(26)]
    assert removed == [TRIM_BATCH] * 24 + [900, 0]
    assert redis_client.zcard(key) == 100
    assert redis_client.zrange(key, 0, 0) == [b"done24900"]
    assert not redis_client.exists(keyspace.job_key_prefix() + "done24899")
    assert redis_client.exists(keyspace.job_key_prefix() + "done24900")
