"""Redis Sentinel (issue 20): jobctl follows a failover through a redis+sentinel:// URL.

A master, a replica and three Sentinels (quorum 2, down-after 500 ms, failover-timeout 2 s) on free
loopback ports (tests/sentinels.py). 200 `flaky` jobs stream in at 50 a second while two
`jobctl worker start` processes and a `jobctl scheduler start` run; the master is SIGKILLed after
100 jobs. Measured: jobs lost, jobs run twice, seconds until jobs run again.

Why these bounds. Replication is asynchronous: a write the master acknowledged but had not yet sent
to the replica is gone when the replica is promoted. The enqueuer runs with JOBCTL_ENQUEUE_REPLICAS=1:
each enqueue returns only once the replica confirmed it (WAIT), and that replica is the one promoted,
so no acknowledged job can be lost: lost == 0. (Without it, at most the jobs enqueued within the
replication lag before the SIGKILL, well under a millisecond on loopback; bench/failover.py measures
both.) A completion the master acknowledged but did not
replicate comes back as a job still held by its worker; its lease runs out and it is run again: a
duplicate, at most one per worker thread (2). Work resumes after the Sentinels notice (500 ms),
elect and promote (~1-2 s) and the workers' back-off retry (0.5, 1, 2, 4 s): within 15 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis

from jobctl.config import load_settings
from jobctl.core.connection import connect, describe_target, sentinel_master
from tests.sentinels import SentinelGroup, failover_run

pytestmark = pytest.mark.e2e


@pytest.fixture
def sentinel_group(tmp_path):
    group = SentinelGroup(tmp_path / "servers")
    group.start()
    yield group
    group.stop()


def test_a_sentinel_url_reaches_the_master_and_names_it(sentinel_group):
    settings = load_settings(environ={"REDIS_URL": sentinel_group.url})
    client = connect(settings)
    assert client.info("replication")["role"] == "master"
    assert client.connection_pool.get_master_address()[1] == sentinel_group.ports[0]
    assert describe_target(settings) == f"{sentinel_group.url} (Sentinel)"
    now = sentinel_master(settings)
    assert now["address"] == f"127.0.0.1:{sentinel_group.ports[0]}" and now["master"] == "jobctl-test"
    # min-replicas-to-write unmet (NOREPLICAS) is an outage jobctl waits out, not a failed command
    client.config_set("min-replicas-to-write", 2)
    with pytest.raises(redis.ConnectionError, match="too few replicas in sync"):
        client.set(f"{os.environ['RQ_KEY_PREFIX']}:sentinel-probe", 1)
    client.config_set("min-replicas-to-write", 0)
    client.close()
    shown = subprocess.run(
        [sys.executable, "-m", "jobctl", "server", "status", "--json"],
        env={**os.environ, "REDIS_URL": sentinel_group.url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["url"] == sentinel_group.url
    assert status["sentinel"]["address"] == f"127.0.0.1:{sentinel_group.ports[0]}"
    assert len(status["sentinel"]["sentinels"]) == 3


def test_jobs_carry_on_through_a_failover(sentinel_group, tmp_path):
    result = failover_run(
        sentinel_group, tmp_path / "run", jobs=200, kills=1, rate=50, settle=40, enqueue_replicas=1, log=print
    )
    print(result)
    assert result.failover_seconds and result.resume_seconds
    assert result.lost == 0, (result.lost_ids, result.states)
    assert result.states == {"finished": 200}, result.states  # and RQ says so too
    assert result.duplicated <= 2, result
    assert result.resume_seconds[0] < 15, result
    # the scheduler came through too: it holds the lease on the new master (kept or taken again)
    assert result.scheduler_active, result
