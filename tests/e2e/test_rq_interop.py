"""jobctl's queues are plain RQ queues: RQ's own CLI sees them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobctl.core.bulk import enqueue_many

pytestmark = pytest.mark.e2e


def test_rq_info_shows_each_priority_queue(settings, redis_client, redis_url):
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue="payment-retry", priority="low")
    enqueue_many(redis_client, settings, "noop", [{}] * 2, queue="payment-retry", priority="high")
    rq = Path(sys.executable).parent / "rq"
    out = subprocess.run([str(rq), "info", "--url", redis_url], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = {line.split(" |")[0]: line for line in out.stdout.splitlines() if " |" in line}
    assert " 3, " in lines["payment-retry:low"] and " 2, " in lines["payment-retry:high"]


def _rq_info_counts(redis_url: str) -> dict[str, int]:
    rq = Path(sys.executable).parent / "rq"
    out = subprocess.run(
        [str(rq), "info", "--url", redis_url, "--only-queues"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    counts = {}
    for line in out.stdout.splitlines():
        if " |" in line:
            name, rest = line.split(" |", 1)  # "name |████ 7, 2 executing, ..."
            counts[name.strip()] = int(rest.split(",")[0].split()[-1])
    return counts


def test_rq_info_counts_equal_jobctl_stats_while_jobs_are_held_and_done(settings, redis_client, redis_url):
    from jobctl.core.lifecycle import Lifecycle, PhysicalQueue
    from jobctl.core.stats import queue_stats
    from jobctl.core.worker import JobctlWorker, physical_queue_names

    enqueue_many(redis_client, settings, "noop", [{}] * 7, queue="payment-retry", priority="low")
    enqueue_many(redis_client, settings, "noop", [{}] * 4, queue="payment-retry", priority="high")
    physical = physical_queue_names(settings, ["payment-retry"])
    JobctlWorker(physical, connection=redis_client, settings=settings).work(burst=True, max_jobs=5)
    # two more claimed by a worker that is still "running" them
    Lifecycle(redis_client).finish_and_claim(
        [],
        queues=[PhysicalQueue.of(p) for p in physical],
        n=2,
        worker="w",
        worker_key="w",
        token="t",
        lease=60,
    )
    stats = queue_stats(redis_client, settings, "payment-retry")["queues"][0]["priorities"]
    rq_counts = _rq_info_counts(redis_url)
    for prio, row in stats.items():
        assert rq_counts.get(f"payment-retry:{prio}", 0) == row["waiting"]
    assert sum(r["waiting"] for r in stats.values()) == 4 and sum(r["active"] for r in stats.values()) == 2
    assert sum(r["completed"] for r in stats.values()) == 5


def test_a_plain_rq_worker_runs_a_jobctl_job(settings, redis_client, redis_url):
    from rq.job import Job

    from jobctl.core.payloads import PayloadSerializer

    [job_id] = enqueue_many(redis_client, settings, "noop", [{}], queue="payment-retry")
    rq = Path(sys.executable).parent / "rq"
    # RQ's SimpleWorker minus its command listener (tests/rq_plain.py says why), from RQ's own CLI
    out = subprocess.run(
        [
            str(rq),
            "worker",
            "--burst",
            "--url",
            redis_url,
            "-w",
            "tests.rq_plain.PlainWorker",
            "-S",
            "rq.serializers.JSONSerializer",
            "payment-retry:normal",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert out.returncode == 0, out.stderr
    job = Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer)
    assert job.get_status() == "finished" and job.return_value() == {"ok": True}


def test_a_jobctl_worker_leaves_what_rq_reads(settings, redis_client):
    from rq import Worker
    from rq.job import Job
    from rq.registry import FinishedJobRegistry

    from jobctl.core.payloads import PayloadSerializer
    from jobctl.core.worker import JobctlWorker, physical_queue_names

    [job_id] = enqueue_many(redis_client, settings, "noop", [{}], queue="payment-retry")
    worker = JobctlWorker(
        physical_queue_names(settings, ["payment-retry"]), connection=redis_client, settings=settings
    )
    worker.work(burst=True)
    job = Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer)
    assert job.get_status() == "finished" and job.return_value() == {"ok": True}
    assert job.started_at <= job.ended_at and job.worker_name == worker.name
    finished = FinishedJobRegistry("payment-retry:normal", connection=redis_client)
    assert job_id in finished.get_job_ids(cleanup=False)
    assert Worker.all(connection=redis_client) == []  # unregistered at exit, as RQ's own workers do
