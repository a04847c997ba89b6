"""Real scheduler processes: firing a schedule that a real worker runs, and failover."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job

from jobctl.core import schedules
from jobctl.core.catalog import queue_catalog
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.scheduler import scheduler_status
from jobctl.core.stats import queue_key, queue_stats
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def short_lease(monkeypatch):
    monkeypatch.setenv("JOBCTL_SCHEDULER_LEASE", "2")


def due_now(redis_client, settings, name: str) -> None:
    """A daily schedule whose occurrence is the start of this very minute: due now, next due tomorrow."""
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    schedules.add_schedule(
        redis_client,
        settings,
        name,
        f"{minute.minute} {minute.hour} * * *",
        job_type="noop",
        queue="daily-reports",
        now=minute - timedelta(seconds=1),
    )


def active_pid(redis_client) -> int | None:
    holder = scheduler_status(redis_client)["active"]
    return int(holder.split(":")[1]) if holder else None


def test_scheduler_fires_a_schedule_that_a_worker_runs(procs, short_lease, settings, redis_client):
    due_now(redis_client, settings, "smoke")
    procs.jobctl("scheduler", "start")
    procs.jobctl("worker", "start", "--queue", "daily-reports")
    doc = wait_for(
        lambda: (d := schedules.get_schedule(redis_client, "smoke"))["last_job_id"] and d,
        timeout=20,
        what="the schedule to fire",
    )
    job_id = doc["last_job_id"]
    assert job_id.startswith("sched-smoke-")
    wait_for(
        lambda: (
            Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer).get_status()
            == "finished"
        ),
        timeout=20,
        what="the worker to run it",
    )
    job = Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer)
    assert job.meta["schedule"] == "smoke" and job.meta["occurrence"]  # facts of the run, not payload
    assert "schedule" not in job.args[0] and "occurrence" not in job.args[0]
    listed = {r["name"]: r for r in schedules.list_schedules(redis_client, settings)}
    assert listed["smoke"]["last_job_status"] == "finished"
    assert "daily-reports" in listed  # the defaults were seeded by the active scheduler


def test_standby_takes_over_and_no_occurrence_runs_twice(procs, short_lease, settings, redis_client):
    first = procs.jobctl("scheduler", "start")
    wait_for(lambda: active_pid(redis_client) == first.pid, what="the first scheduler to lead")
    second = procs.jobctl("scheduler", "start")
    due_now(redis_client, settings, "both")
    wait_for(lambda: schedules.get_schedule(redis_client, "both")["last_job_id"], timeout=20, what="a run")
    assert active_pid(redis_client) == first.pid  # the second one stands by

    os.kill(first.pid, signal.SIGKILL)
    wait_for(lambda: active_pid(redis_client) == second.pid, timeout=10, what="the standby to take over")
    due_now(redis_client, settings, "after-failover")
    wait_for(
        lambda: schedules.get_schedule(redis_client, "after-failover")["last_job_id"],
        timeout=20,
        what="a run by the new leader",
    )
    waiting = queue_stats(redis_client, settings, "daily-reports")["queues"][0]["totals"]["waiting"]
    assert waiting == 2  # one job per occurrence, none twice
    ids = [
        i.decode()
        for i in redis_client.lrange(
            queue_key(queue_catalog(settings)["daily-reports"].physical("low")), 0, -1
        )
    ]
    assert len(ids) == len(set(ids)) == 2

    second.send_signal(signal.SIGTERM)
    assert second.wait(15) == 0
    assert scheduler_status(redis_client)["active"] is None  # a clean stop hands the lease back
