"""What the scheduler and the workers queue on their own is audited as them (faces scheduler and
worker), not as whoever started the process: a schedule firing, a job queueing a job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobctl.core import audit, runtime, schedules
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.scheduler import Scheduler
from jobctl.core.submit import submit
from jobctl.core.worker import JobctlJob, JobctlWorker

Q = "analytics-aggregation"
PERSON = audit.Actor("ada", "cli")  # who started the process


def queue_a_noop() -> str:
    """A job (run by the worker under test) that queues a job of its own."""
    return submit(runtime.connection(), runtime.settings(), "noop", {}, queue="email-sending")


def noop_entries(conn) -> list[dict]:
    return [e for e in audit.list_entries(conn, action="enqueue") if e["filters"].get("type") == "noop"]


@pytest.mark.parametrize("threads", [1, 3])
def test_a_job_that_queues_a_job_is_the_actor_with_face_worker(redis_client, settings, threads):
    runtime.install(settings, redis_client)
    physical = queue_catalog(settings)[Q].physical_names
    parents = [rq_queue(redis_client, physical[0]).enqueue(queue_a_noop) for _ in range(3)]
    worker = JobctlWorker(
        [rq_queue(redis_client, p) for p in physical],
        connection=redis_client,
        job_class=JobctlJob,
        settings=settings,
        threads=threads,
    )
    with audit.acting_as(PERSON):  # as `jobctl worker start` does
        assert worker.work(burst=True) == 3
    got = sorted((e["actor"], e["face"]) for e in noop_entries(redis_client))
    assert got == sorted((f"job:{p.id}", "worker") for p in parents)
    assert [p.id for p in parents] and all(p.get_status(refresh=True) == "finished" for p in parents)


def test_a_schedule_firing_is_the_schedule_with_face_scheduler(redis_client, settings):
    now = datetime(2026, 12, 7, 10, 0, 30, tzinfo=UTC)
    with audit.acting_as(PERSON):
        schedules.add_schedule(
            redis_client, settings, "tidy", "* * * * *", job_type="noop", now=now - timedelta(minutes=1)
        )
        fired = Scheduler(settings, name="sched-1").step(redis_client, now=now)
    assert [f.get("action", "fired") for f in fired if f["name"] == "tidy"] == ["fired"]
    [entry] = noop_entries(redis_client)
    assert (entry["actor"], entry["face"]) == ("schedule:tidy", "scheduler")
    # the change itself stays the person's
    [added] = audit.list_entries(redis_client, action="schedule.add")
    assert (added["actor"], added["face"]) == ("ada", "cli")


def test_the_new_faces_filter(redis_client, settings, cli):
    with audit.acting_as(audit.Actor("scheduler:s", "scheduler")):
        submit(redis_client, settings, "noop", {})
    rows = cli.json("audit", "list", "--face", "scheduler", "--action", "enqueue")
    assert [(r["actor"], r["face"]) for r in rows["entries"]] == [("scheduler:s", "scheduler")]
    assert cli.json("audit", "list", "--face", "worker")["entries"] == []
