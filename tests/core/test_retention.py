from __future__ import annotations

import time

from rq.registry import FailedJobRegistry

from jobctl.config import load_settings
from jobctl.core import keyspace
from jobctl.core.catalog import queue_catalog
from jobctl.core.retention import Retention


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
