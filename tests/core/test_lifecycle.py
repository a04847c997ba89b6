"""The atomic lifecycle: a job is in exactly one place after every step, and a worker that dies
between any two of its Redis calls (claim, run, finish, release, reclaim) loses nothing.

A "crash" here is a worker that made some calls and then never makes another: what is left in Redis
is all a dead process leaves behind, so these tests inject the failure at each step in process.
"""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest
from rq.job import Job

from jobctl.core import dlq, keyspace
from jobctl.core.bulk import enqueue_many
from jobctl.core.lifecycle import Lifecycle, PhysicalQueue
from jobctl.core.outcomes import Run, decide, finish_record
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.worker import JobctlJob, JobctlWorker, physical_queue_names

Q = "email-sending"


def queues(settings, name: str = Q) -> list[PhysicalQueue]:
    return [PhysicalQueue.of(p) for p in physical_queue_names(settings, [name])]


def places(conn, settings, job_id: str, name: str = Q) -> list[str]:
    """Every place `job_id` is in: waiting / active / scheduled / completed / stopped / dead."""
    found = []
    for q in queues(settings, name):
        if job_id.encode() in conn.lrange(q.queue, 0, -1):
            found.append(f"waiting:{q.name}")
        if any(m.decode().split(":", 1)[0] == job_id for m in conn.zrange(q.wip, 0, -1)):
            found.append(f"active:{q.name}")
        for label, key in (("scheduled", q.scheduled), ("completed", q.finished), ("failed", q.failed)):
            if conn.zscore(key, job_id) is not None:
                found.append(f"{label}:{q.name}")
    if conn.zscore(keyspace.dlq_index(), job_id) is not None:
        found.append("dead")
    return found


def where_all(conn, settings, name: str = Q) -> dict[str, list[str]]:
    """places() for every job at once: one read of each key."""
    found: dict[str, list[str]] = {}
    for q in queues(settings, name):
        for i in conn.lrange(q.queue, 0, -1):
            found.setdefault(i.decode(), []).append(f"waiting:{q.name}")
        for m in conn.zrange(q.wip, 0, -1):
            found.setdefault(m.decode().split(":", 1)[0], []).append(f"active:{q.name}")
        for label, key in (("scheduled", q.scheduled), ("completed", q.finished), ("failed", q.failed)):
            for i in conn.zrange(key, 0, -1):
                found.setdefault(i.decode(), []).append(f"{label}:{q.name}")
    for i in conn.zrange(keyspace.dlq_index(), 0, -1):
        found.setdefault(i.decode(), []).append("dead")
    return found


def worker(conn, settings, **kwargs) -> JobctlWorker:
    return JobctlWorker(
        physical_queue_names(settings, [Q]),
        connection=conn,
        settings=settings,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        **kwargs,
    )


def claim(life: Lifecycle, settings, n: int, lease: float = 30.0, name: str = "dead-worker"):
    return life.finish_and_claim(
        [],
        queues=queues(settings),
        n=n,
        worker=name,
        worker_key=f"w:{name}",
        token=uuid.uuid4().hex[:8],
        lease=lease,
    )[1]


def expire_leases(conn, settings) -> None:
    for q in queues(settings):
        for member in conn.zrange(q.wip, 0, -1):
            conn.zadd(q.wip, {member: time.time() - 1})


def test_claim_takes_high_before_normal_before_low_into_wip_under_a_lease(redis_client, settings):
    low = enqueue_many(redis_client, settings, "noop", [{}], priority="low")
    normal = enqueue_many(redis_client, settings, "noop", [{}], priority="normal")
    high = enqueue_many(redis_client, settings, "noop", [{}], priority="high")
    life = Lifecycle(redis_client)
    before = time.time()
    claimed = claim(life, settings, 2, lease=30)
    assert [c.job_id for c in claimed] == high + normal
    for c in claimed:
        assert places(redis_client, settings, c.job_id) == [f"active:{c.queue.name}"]
        assert before + 29 < redis_client.zscore(c.queue.wip, c.member) < time.time() + 31
        assert redis_client.hget(Job.key_for(c.job_id), "status") == b"started"
        assert c.fields[b"data"]  # the whole hash came back with the claim: no second round trip
    assert places(redis_client, settings, low[0]) == [f"waiting:{Q}:low"]


def test_a_worker_killed_after_claiming_loses_nothing_and_the_crash_counts_as_an_attempt(
    redis_client, settings
):
    [job_id] = enqueue_many(redis_client, settings, "noop", [{}])
    life = Lifecycle(redis_client)
    [_claimed] = claim(life, settings, 1)
    left = int(redis_client.hget(Job.key_for(job_id), "retries_left"))
    # the worker dies here; its lease runs out
    expire_leases(redis_client, settings)
    assert life.reclaim(queues(settings)) == (1, [])
    assert places(redis_client, settings, job_id) == [f"waiting:{Q}:normal"]
    assert int(redis_client.hget(Job.key_for(job_id), "retries_left")) == left - 1
    worker(redis_client, settings).work(burst=True)
    assert places(redis_client, settings, job_id) == [f"completed:{Q}:normal"]
    job = Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer)
    assert [a["outcome"] for a in job.meta["attempts"]] == ["abandoned", "succeeded"]
    assert job.meta["attempts"][0]["worker"] == "dead-worker"


def test_a_killed_worker_on_the_last_attempt_dead_letters_the_job(redis_client, settings):
    [job_id] = enqueue_many(redis_client, settings, "noop", [{}])
    redis_client.hset(Job.key_for(job_id), "retries_left", 0)
    life = Lifecycle(redis_client)
    claim(life, settings, 1)
    expire_leases(redis_client, settings)
    # reclaim puts it in RQ's failed registry; dying right after that is covered by the sweep
    assert life.reclaim(queues(settings)) == (0, [job_id])
    assert places(redis_client, settings, job_id) == [f"failed:{Q}:normal"]
    moved = dlq.sweep_failed(redis_client, physical_queue_names(settings, [Q]), "sweeper")
    assert [e["job_id"] for e in moved] == [job_id]
    assert places(redis_client, settings, job_id) == ["dead"]
    entry = dlq.get_entry(redis_client, job_id)
    assert entry["attempts"][-1]["outcome"] == "abandoned"


def test_a_worker_reclaims_expired_leases_and_dead_letters_at_once(redis_client, settings):
    [job_id] = enqueue_many(redis_client, settings, "noop", [{}])
    redis_client.hset(Job.key_for(job_id), "retries_left", 0)
    claim(Lifecycle(redis_client), settings, 1)
    expire_leases(redis_client, settings)
    worker(redis_client, settings).work(burst=True)  # its start-up maintenance reclaims
    assert places(redis_client, settings, job_id) == ["dead"]
    assert dlq.get_entry(redis_client, job_id)["error_type"] == "AbandonedJobError"


def test_no_lock_left_by_a_dead_process_delays_recovery(redis_client, settings):
    [job_id] = enqueue_many(redis_client, settings, "noop", [{}])
    claim(Lifecycle(redis_client), settings, 1)
    for q in queues(settings):  # what a worker killed inside RQ's registry cleaning used to leave
        redis_client.set(f"{keyspace.JOBCTL.rsplit(':', 1)[0]}:clean_registries:{q.name}", "dead", ex=899)
    expire_leases(redis_client, settings)
    worker(redis_client, settings).work(burst=True)
    assert places(redis_client, settings, job_id) == [f"completed:{Q}:normal"]


def test_finishing_a_claim_that_was_taken_back_changes_nothing(redis_client, settings):
    [job_id] = enqueue_many(redis_client, settings, "noop", [{}])
    life = Lifecycle(redis_client)
    [c] = claim(life, settings, 1)
    expire_leases(redis_client, settings)
    life.reclaim(queues(settings))  # another worker took it back while this one was stalled
    job = JobctlJob(job_id, connection=redis_client, serializer=PayloadSerializer)
    job.restore(c.fields)
    run = Run(c, job, time.time(), time.time(), return_value={"late": True})
    decide(run)
    lost, _ = life.finish_and_claim([finish_record(run, "stalled-worker")])
    assert lost == 1
    assert places(redis_client, settings, job_id) == [f"waiting:{Q}:normal"]
    assert redis_client.hget(Job.key_for(job_id), "status") == b"queued"


def test_due_retries_are_promoted_and_later_ones_wait(redis_client, settings):
    due, later = enqueue_many(redis_client, settings, "noop", [{}, {}])
    q = queues(settings)[1]
    redis_client.delete(q.queue)
    redis_client.zadd(q.scheduled, {due: time.time() - 1, later: time.time() + 3600})
    redis_client.hset(Job.key_for(due), "status", "scheduled")
    assert Lifecycle(redis_client).promote(queues(settings)) == 1
    assert places(redis_client, settings, due) == [f"waiting:{q.name}"]
    assert places(redis_client, settings, later) == [f"scheduled:{q.name}"]
    assert redis_client.hget(Job.key_for(due), "status") == b"queued"


def test_a_stopping_worker_gives_back_what_it_never_started_in_order(redis_client, settings):
    ids = enqueue_many(redis_client, settings, "noop", [{}] * 5)
    life = Lifecycle(redis_client)
    claimed = claim(life, settings, 3)
    assert life.release(claimed) == 3
    q = queues(settings)[1]
    assert [i.decode() for i in redis_client.lrange(q.queue, 0, -1)] == ids
    assert all(places(redis_client, settings, i) == [f"waiting:{q.name}"] for i in ids)


def test_a_transient_failure_is_scheduled_in_the_same_step_as_its_attempt(redis_client, settings, tmp_path):
    [job_id] = enqueue_many(
        redis_client, settings, "flaky", [{"counter": str(tmp_path / "n"), "fail_times": 1}]
    )
    worker(redis_client, settings).work(burst=True)
    job = Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer)
    assert job.get_status() == "scheduled" and [a["outcome"] for a in job.meta["attempts"]] == ["failed"]
    assert places(redis_client, settings, job_id) == [f"scheduled:{Q}:normal"]
    q = queues(settings)[1]
    redis_client.zadd(q.scheduled, {job_id: time.time() - 1})  # due now
    worker(redis_client, settings).work(burst=True)
    assert places(redis_client, settings, job_id) == [f"completed:{Q}:normal"]


def test_a_thread_pool_overlaps_io_bound_jobs(redis_client, settings):
    ids = enqueue_many(redis_client, settings, "sleep", [{"seconds": 0.3}] * 20)
    started = time.monotonic()
    assert worker(redis_client, settings, threads=20).work(burst=True) == 20
    assert time.monotonic() - started < 3.0  # one after another they take 6 s
    assert all(places(redis_client, settings, i) == [f"completed:{Q}:normal"] for i in ids)


def test_cancel_stops_a_job_running_on_a_pool_thread(redis_client, settings):
    [job_id] = enqueue_many(redis_client, settings, "sleep", [{"seconds": 30}])
    w = worker(redis_client, settings, threads=4)
    runner = threading.Thread(target=w.work, kwargs={"burst": True})
    runner.start()
    deadline = time.monotonic() + 10
    while job_id not in w._running and time.monotonic() < deadline:
        time.sleep(0.02)
    w.stop_job(job_id)
    runner.join(15)
    assert not runner.is_alive()
    assert redis_client.hget(Job.key_for(job_id), "status") == b"stopped"
    assert places(redis_client, settings, job_id) == [f"failed:{Q}:normal"]


@pytest.mark.parametrize("seed", range(20))
def test_every_job_is_in_exactly_one_place_after_every_step(redis_client, settings, seed):
    """Random interleavings of enqueue, claim, finish (each outcome), crash, reclaim, promote, release."""
    rng = random.Random(seed)
    life = Lifecycle(redis_client)
    ids: list[str] = []
    held: list = []  # claims of live workers
    for _ in range(120):
        step = rng.choice(["enqueue", "claim", "finish", "finish", "crash", "reclaim", "promote", "release"])
        if step == "enqueue":
            ids += enqueue_many(
                redis_client,
                settings,
                "noop",
                [{}] * rng.randint(1, 4),
                priority=rng.choice(["high", "normal", "low"]),
            )
        elif step == "claim":
            held += claim(life, settings, rng.randint(1, 5), name=f"w{rng.randint(1, 3)}")
        elif step == "finish" and held:
            batch = [held.pop(rng.randrange(len(held))) for _ in range(min(len(held), rng.randint(1, 3)))]
            records = []
            for c in batch:
                job = JobctlJob(c.job_id, connection=redis_client, serializer=PayloadSerializer)
                job.restore(c.fields)
                run = Run(c, job, time.time(), time.time())
                if rng.random() < 0.4:
                    run.error = RuntimeError("transient") if rng.random() < 0.7 else ValueError("x")
                    run.error.retryable = rng.random() < 0.7
                    run.exc_string = "RuntimeError: boom"
                decide(run)
                if run.kind == "retry" and rng.random() < 0.5:
                    run.due = time.time() - 1  # due at once: the next promote takes it
                records.append(finish_record(run, "w", None))
            life.finish_and_claim(records)
        elif step == "crash" and held:
            rng.shuffle(held)
            held = held[: len(held) // 2]  # the rest belonged to a worker that just died
            expire_leases(redis_client, settings)
            # live workers' leases are renewed (they are alive)
            for c in held:
                redis_client.zadd(c.queue.wip, {c.member: time.time() + 30})
        elif step == "reclaim":
            life.reclaim(queues(settings))
            dlq.sweep_failed(redis_client, physical_queue_names(settings, [Q]), "sweeper")
        elif step == "promote":
            life.promote(queues(settings))
        elif step == "release" and held:
            life.release(held)
            held = []
        snapshot = where_all(redis_client, settings)
        for job_id in ids:
            where = snapshot.get(job_id, [])
            assert len(where) == 1, f"seed {seed}, after {step}: job {job_id} is in {where or 'no place'}"
