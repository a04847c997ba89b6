"""Real worker processes against a real Redis."""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from jobctl.config import load_settings
from jobctl.core.bulk import enqueue, enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.stats import list_workers, queue_stats
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e


def fetch(conn, ids):
    return Job.fetch_many(ids, connection=conn, serializer=PayloadSerializer)


def finish(proc, timeout=30) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return out


def test_burst_worker_drains_high_then_normal_then_low(procs, settings, redis_client):
    low = enqueue_many(redis_client, settings, "noop", [{}] * 5, queue="payment-retry", priority="low")
    normal = enqueue_many(redis_client, settings, "noop", [{}] * 5, queue="payment-retry", priority="normal")
    high = enqueue_many(redis_client, settings, "noop", [{}] * 5, queue="payment-retry", priority="high")
    finish(procs.jobctl("worker", "start", "--queue", "payment-retry", "--burst"))
    ended = {j.id: j.ended_at for j in fetch(redis_client, low + normal + high)}
    assert all(ended.values())
    assert max(ended[i] for i in high) <= min(ended[i] for i in normal)
    assert max(ended[i] for i in normal) <= min(ended[i] for i in low)
    totals = queue_stats(redis_client, settings, "payment-retry")["queues"][0]["totals"]
    assert totals["waiting"] == 0 and totals["completed"] == 15


def test_keep_completed_is_a_count(procs, tmp_path, redis_client):
    (tmp_path / "jobctl.toml").write_text(
        "[queues.analytics-aggregation]\nkeep_completed = 3\nkeep_failed = 2\nattempts = 1\n"
    )
    settings = load_settings()
    ok = enqueue_many(redis_client, settings, "noop", [{}] * 8, queue="analytics-aggregation")
    bad = enqueue_many(
        redis_client, settings, "fail", [{}] * 4, queue="analytics-aggregation", priority="high"
    )
    finish(procs.jobctl("worker", "start", "--queue", "analytics-aggregation", "--burst"))
    time.sleep(1.1)  # RQ scores registries in whole seconds: make the last two clearly newer
    newest = enqueue_many(redis_client, settings, "noop", [{}] * 2, queue="analytics-aggregation")
    finish(procs.jobctl("worker", "start", "--queue", "analytics-aggregation", "--burst"))

    names = queue_catalog(settings)["analytics-aggregation"].physical_names
    kept_ok = [
        i
        for q in names
        for i in FinishedJobRegistry(q, connection=redis_client, serializer=PayloadSerializer).get_job_ids(
            cleanup=False
        )
    ]
    kept_bad = [
        i
        for q in names
        for i in FailedJobRegistry(q, connection=redis_client, serializer=PayloadSerializer).get_job_ids(
            cleanup=False
        )
    ]
    assert len(kept_ok) == 3 and set(newest) < set(kept_ok) < set(ok + newest)  # oldest dropped first
    assert kept_bad == []  # exhausted jobs leave RQ's failed registry for the dead-letter queue
    assert queue_stats(redis_client, settings)["dead_letter"] == len(bad)
    trimmed = [i for i in ok if i not in kept_ok]
    assert fetch(redis_client, trimmed) == [None] * 7  # the job data went too, not just the registry entry


def test_sigterm_finishes_the_job_in_hand_then_exits_zero(procs, settings, redis_client):
    job_id = enqueue(redis_client, settings, "sleep", {"seconds": 2}, queue="referral-commission")
    worker = procs.jobctl("worker", "start", "--queue", "referral-commission")
    wait_for(lambda: fetch(redis_client, [job_id])[0].get_status() == "started", what="job to start")
    worker.send_signal(signal.SIGTERM)
    finish(worker, timeout=20)
    assert fetch(redis_client, [job_id])[0].get_status() == "finished"


def test_second_signal_stops_hard(procs, settings, redis_client):
    job_id = enqueue(redis_client, settings, "sleep", {"seconds": 60}, queue="referral-commission")
    worker = procs.jobctl("worker", "start", "--queue", "referral-commission")
    wait_for(lambda: fetch(redis_client, [job_id])[0].get_status() == "started", what="job to start")
    worker.send_signal(signal.SIGTERM)
    time.sleep(1.2)  # RQ ignores a repeat within 1 s (Ctrl+C reaches a whole process group twice)
    assert worker.poll() is None, "a first signal must let the job finish"
    worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=10)
    assert fetch(redis_client, [job_id])[0].get_status() != "finished"


def test_concurrency_runs_jobs_at_the_same_time(procs, settings, redis_client):
    ids = enqueue_many(redis_client, settings, "sleep", [{"seconds": 1.5}] * 2, queue="daily-reports")
    finish(procs.jobctl("worker", "start", "--queue", "daily-reports", "--concurrency", "2", "--burst"))
    a, b = fetch(redis_client, ids)
    assert a.get_status() == b.get_status() == "finished"
    assert a.started_at < b.ended_at and b.started_at < a.ended_at  # the two runs overlapped


def test_max_jobs_stops_after_n(procs, settings, redis_client):
    enqueue_many(redis_client, settings, "noop", [{}] * 5, queue="weekly-reports")
    finish(procs.jobctl("worker", "start", "--queue", "weekly-reports", "--max-jobs", "2"))
    assert queue_stats(redis_client, settings, "weekly-reports")["queues"][0]["totals"]["waiting"] == 3


def test_workers_start_runs_every_queue_and_respawns_the_dead(procs, settings, redis_client):
    supervisor = procs.jobctl("workers", "start")
    queues = [n for n in queue_catalog(settings) if n != "dead-letter"]
    wait_for(lambda: len(list_workers(redis_client)) == len(queues), timeout=30, what="one worker per queue")
    rows = list_workers(redis_client)
    assert sorted({q.split(":")[0] for r in rows for q in r["queues"]}) == sorted(queues)
    victim = rows[0]
    os.kill(victim["pid"], signal.SIGKILL)
    wait_for(
        lambda: any(
            r["pid"] != victim["pid"] and set(r["queues"]) == set(victim["queues"])
            for r in list_workers(redis_client)
        ),
        timeout=30,
        what="a replacement worker",
    )
    ids = enqueue_many(redis_client, settings, "noop", [{}] * 3, queue="file-processing")
    wait_for(lambda: all(j.get_status() == "finished" for j in fetch(redis_client, ids)), what="jobs to run")
    supervisor.send_signal(signal.SIGTERM)
    finish(supervisor, timeout=30)


def test_worker_waits_out_a_redis_outage(procs, own_redis, monkeypatch):
    monkeypatch.setenv("REDIS_URL", own_redis.url)
    settings = load_settings()
    worker = procs.jobctl("worker", "start", "--queue", "email-sending")  # Redis is not up yet
    own_redis.start()
    client = redis.Redis.from_url(own_redis.url)
    first = enqueue(client, settings, "noop", {}, queue="email-sending")
    wait_for(lambda: fetch(client, [first])[0].get_status() == "finished", timeout=30, what="first job")

    own_redis.kill()
    time.sleep(2)  # down long enough for the worker to notice (a quick restart can go unseen)
    own_redis.start()  # same port, empty data: a restarted, non-persistent Redis
    second = enqueue(client, settings, "noop", {}, queue="email-sending")
    wait_for(
        lambda: (job := fetch(client, [second])[0]) is not None and job.get_status() == "finished",
        timeout=60,
        what="job after the outage",
    )
    assert worker.poll() is None, "the worker must survive the outage"
    worker.send_signal(signal.SIGTERM)
    out = finish(worker, timeout=20)
    assert "waiting for it" in out and "Redis is back after" in out, out
    client.close()


def test_stats_watch_json_streams_one_document_per_line(procs, settings, redis_client):
    import json

    watcher = procs.jobctl("stats", "--watch", "--json", "--interval", "0.2", "--queue", "email-sending")
    first = json.loads(watcher.stdout.readline())
    enqueue_many(redis_client, settings, "noop", [{}] * 4, queue="email-sending")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        doc = json.loads(watcher.stdout.readline())
        if doc["queues"][0]["totals"]["waiting"] == 4:
            break
    else:
        raise AssertionError("the watch never showed the new jobs")
    assert first["queues"][0]["totals"]["waiting"] == 0
    watcher.send_signal(signal.SIGINT)
    assert watcher.wait(10) == 0


def test_thread_pool_runs_jobs_at_the_same_time_in_one_process(procs, settings, redis_client):
    ids = enqueue_many(redis_client, settings, "sleep", [{"seconds": 1}] * 8, queue="payment-retry")
    started = time.monotonic()
    finish(
        procs.jobctl(
            "worker", "start", "--queue", "payment-retry", "--concurrency", "8", "--pool", "thread", "--burst"
        )
    )
    jobs = fetch(redis_client, ids)
    assert {j.get_status() for j in jobs} == {"finished"}
    assert len({j.worker_name for j in jobs}) == 1  # one process, eight threads
    assert max(j.started_at for j in jobs) < min(j.ended_at for j in jobs)  # all eight overlapped
    assert time.monotonic() - started < 8


def test_sigterm_on_a_thread_pool_finishes_running_jobs_and_gives_back_the_rest(
    procs, settings, redis_client
):
    ids = enqueue_many(redis_client, settings, "sleep", [{"seconds": 1.5}] * 12, queue="payment-retry")
    worker = procs.jobctl(
        "worker", "start", "--queue", "payment-retry", "--concurrency", "4", "--pool", "thread"
    )

    def running():
        return sum(j.get_status() == "started" for j in fetch(redis_client, ids)) >= 4

    wait_for(running, what="four jobs to start")
    worker.send_signal(signal.SIGTERM)
    finish(worker, timeout=20)
    statuses = [j.get_status() for j in fetch(redis_client, ids)]
    assert statuses.count("finished") >= 4 and set(statuses) <= {"finished", "queued"}
    stats = queue_stats(redis_client, settings, "payment-retry")["queues"][0]["totals"]
    assert stats["active"] == 0 and stats["waiting"] == statuses.count("queued")


def test_ctrl_c_reaching_the_whole_group_twice_is_one_warm_stop(procs, settings, redis_client):
    job_id = enqueue(redis_client, settings, "sleep", {"seconds": 2}, queue="referral-commission")
    worker = procs.jobctl("worker", "start", "--queue", "referral-commission", "--concurrency", "2")
    wait_for(lambda: fetch(redis_client, [job_id])[0].get_status() == "started", what="job to start")
    os.killpg(worker.pid, signal.SIGINT)  # the terminal's Ctrl+C: supervisor and children at once
    finish(worker, timeout=20)
    assert fetch(redis_client, [job_id])[0].get_status() == "finished"
