"""Two "hosts" (their own state folder and JOBCTL_HOSTNAME) running `jobctl workers start` against one
REDIS_URL: the jobs split between them, none runs twice, and `worker list` shows both hosts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from rq.job import Job

from jobctl.core.bulk import enqueue_many
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.stats import list_workers, queue_stats
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

HOSTS = ("host-a", "host-b")
JOBS = 40


def test_two_hosts_share_the_queues(procs, settings, redis_client, tmp_path):
    queues = 7  # `workers start` runs one process per catalogue queue, dead letters aside
    supervisors = []
    for host in HOSTS:
        home = tmp_path / host
        home.mkdir()
        env = {"JOBCTL_HOME": str(home), "JOBCTL_HOSTNAME": host}
        supervisors.append(procs.jobctl("workers", "start", env=env))

    def both_up():
        alive = [w for w in list_workers(redis_client, settings) if w["alive"]]
        return all(sum(w["host"] == h for w in alive) == queues for h in HOSTS)

    wait_for(both_up, timeout=60, what="7 live workers on each host")
    ids = enqueue_many(redis_client, settings, "sleep", [{"seconds": 0.05}] * JOBS, queue="payment-retry")

    def all_done():
        totals = queue_stats(redis_client, settings, "payment-retry")["queues"][0]["totals"]
        return totals["completed"] == JOBS

    wait_for(all_done, timeout=60, what=f"{JOBS} jobs completed")
    jobs = Job.fetch_many(ids, connection=redis_client, serializer=PayloadSerializer)
    attempts = [job.meta["attempts"] for job in jobs]
    assert all(len(a) == 1 and a[0]["outcome"] == "succeeded" for a in attempts)  # none ran twice
    ran_on = [a[0]["worker"].split(":")[0] for a in attempts]
    assert set(ran_on) == set(HOSTS), ran_on  # both hosts took their share

    listed = subprocess.run(
        [sys.executable, "-m", "jobctl", "worker", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "JOBCTL_HOME": str(tmp_path / "host-a"), "JOBCTL_HOSTNAME": "host-a"},
    )
    assert listed.returncode == 0, listed.stderr
    hosts = json.loads(listed.stdout)["hosts"]
    assert hosts == [{"host": h, "workers": queues, "alive": queues} for h in HOSTS]

    # a warm stop, as systemd sends it (SIGTERM to every process of the unit): each finishes what it
    # holds and unregisters
    for proc in supervisors:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in supervisors:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
    assert not [w for w in list_workers(redis_client, settings) if w["alive"]]
