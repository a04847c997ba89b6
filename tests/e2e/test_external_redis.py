"""The same enqueue -> worker -> stats cycle on the machine's own Redis server (127.0.0.1:6379).

The rest of the suite runs on REDIS_URL or, when unset, on jobctl's embedded server; this keeps a
plain Redis 7 covered too. Isolation is by key prefix, as everywhere else.
"""

from __future__ import annotations

import pytest
import redis

from jobctl.config import load_settings
from jobctl.core.bulk import enqueue_many
from jobctl.core.stats import queue_stats
from tests.conftest import delete_prefixed_keys

pytestmark = pytest.mark.e2e
EXTERNAL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def external(monkeypatch):
    client = redis.Redis.from_url(EXTERNAL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis server at 127.0.0.1:6379")
    monkeypatch.setenv("REDIS_URL", EXTERNAL)
    yield client
    delete_prefixed_keys(client)
    client.close()


def test_worker_cycle_on_plain_redis(procs, external):
    settings = load_settings()
    assert external.info("server").get("redis_version")
    enqueue_many(external, settings, "noop", [{}] * 20, queue="file-processing")
    worker = procs.jobctl("worker", "start", "--queue", "file-processing", "--burst")
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, out
    totals = queue_stats(external, settings, "file-processing")["queues"][0]["totals"]
    assert totals["waiting"] == 0 and totals["completed"] == 20
