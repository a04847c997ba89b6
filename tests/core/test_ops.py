"""clear / delete / retry / cancel / pause against a real Redis and real (in-process) workers."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job, JobStatus
from rq.registry import CanceledJobRegistry, FailedJobRegistry

from jobctl.config import load_settings
from jobctl.core import audit, keyspace, ops
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.stats import queue_key, queue_stats
from jobctl.core.worker import JobctlJob, JobctlWorker
from jobctl.errors import NotFound, UsageError
from tests.conftest import KEY_PREFIX
from tests.rq_plain import PlainWorker

A, B = "payment-retry", "referral-commission"


def one_attempt(tmp_path, *queues: str, attempts: int = 1):
    """A jobctl.toml in the cwd giving `queues` this many attempts; returns fresh settings."""
    (tmp_path / "jobctl.toml").write_text("".join(f"[queues.{q}]\nattempts = {attempts}\n" for q in queues))
    return load_settings()


def run_rq_worker(conn, settings, *queues: str) -> None:
    """Plain RQ SimpleWorker, burst: with attempts = 1 a failing job lands in RQ's failed registry
    (jobctl's own worker would dead-letter it)."""
    physical = [p for q in queues for p in queue_catalog(settings)[q].physical_names]
    PlainWorker([rq_queue(conn, p) for p in physical], connection=conn, serializer=PayloadSerializer).work(
        burst=True
    )


def fetch(conn, ids):
    return Job.fetch_many(ids, connection=conn, serializer=PayloadSerializer)


def snapshot(conn) -> dict[str, tuple[str, int]]:
    """Every key under this test run's prefix with its type and length."""
    length = {
        "list": conn.llen,
        "zset": conn.zcard,
        "set": conn.scard,
        "hash": conn.hlen,
        "string": conn.strlen,
        "stream": conn.xlen,
    }
    out = {}
    for key in conn.scan_iter(match=f"{KEY_PREFIX}:*", count=1000):
        kind = conn.type(key).decode()
        out[key.decode()] = (kind, length[kind](key) if kind in length else -1)
    return out


def populate(conn, settings, queue: str) -> dict[str, list[str]]:
    """3 completed, 2 failed (need attempts = 1), 4 waiting over two priorities, 1 scheduled."""
    jobs = {
        "completed": enqueue_many(conn, settings, "noop", [{}] * 3, queue=queue),
        "failed": enqueue_many(conn, settings, "fail", [{}] * 2, queue=queue, priority="high"),
    }
    run_rq_worker(conn, settings, queue)
    jobs["waiting"] = enqueue_many(
        conn, settings, "noop", [{}] * 3, queue=queue, priority="high"
    ) + enqueue_many(conn, settings, "noop", [{}], queue=queue, priority="low")
    policy = queue_catalog(settings)[queue]
    scheduled = rq_queue(conn, policy.physical("normal")).enqueue_in(
        timedelta(hours=1), "jobctl.jobs.noop.noop", {}, meta={"type": "noop", "queue": queue}
    )
    jobs["scheduled"] = [scheduled.id]
    return jobs


def totals(conn, settings, queue):
    return queue_stats(conn, settings, queue)["queues"][0]["totals"]


# --- clear ------------------------------------------------------------------------------------------


def test_clear_all_empties_one_queue_and_leaves_the_other_untouched(redis_client, tmp_path):
    settings = one_attempt(tmp_path, A, B)
    a = populate(redis_client, settings, A)
    populate(redis_client, settings, B)
    assert totals(redis_client, settings, A) == {
        "waiting": 4,
        "active": 0,
        "scheduled": 1,
        "completed": 3,
        "failed": 2,
    }
    a_ids = [i for ids in a.values() for i in ids]
    before = snapshot(redis_client)

    result = ops.clear_queue(redis_client, settings, A, "all")

    assert result["removed"] == {"waiting": 4, "scheduled": 1, "failed": 2, "completed": 3}
    assert result["total"] == 10 and result["dry_run"] is False and "active" in result["note"]
    assert totals(redis_client, settings, A) == dict.fromkeys(totals(redis_client, settings, A), 0)
    assert fetch(redis_client, a_ids) == [None] * len(a_ids)
    after = snapshot(redis_client)
    assert not [k for k in after if any(i in k for i in a_ids)]  # no hash, no results stream left
    # everything else, B's jobs and registries included, is exactly as it was
    a_names = queue_catalog(settings)[A].physical_names
    expected = {
        k: v
        for k, v in before.items()
        if not any(i in k for i in a_ids) and not any(k.endswith(":" + n) for n in a_names)
    }
    # ...plus the clear's own audit entry (after the enqueues that set the test up)
    expected[audit.stream_key()] = ("stream", before[audit.stream_key()][1] + 1)
    assert after == expected


def test_clear_one_state_and_one_priority(redis_client, tmp_path):
    settings = one_attempt(tmp_path, A)
    jobs = populate(redis_client, settings, A)
    result = ops.clear_queue(redis_client, settings, A, "waiting", priority="high")
    assert result["removed"] == {"waiting": 3} and result["priority"] == "high"
    t = totals(redis_client, settings, A)
    assert (t["waiting"], t["scheduled"], t["completed"], t["failed"]) == (1, 1, 3, 2)
    assert [j is None for j in fetch(redis_client, jobs["waiting"])] == [True, True, True, False]

    result = ops.clear_queue(redis_client, settings, A, "failed")
    assert result["removed"] == {"failed": 2}
    assert fetch(redis_client, jobs["failed"]) == [None, None]
    assert totals(redis_client, settings, A)["completed"] == 3


def test_clear_dry_run_counts_and_changes_nothing(redis_client, tmp_path):
    settings = one_attempt(tmp_path, A)
    populate(redis_client, settings, A)
    before = snapshot(redis_client)
    result = ops.clear_queue(redis_client, settings, A, "all", dry_run=True)
    assert result["dry_run"] is True and result["total"] == 10
    assert result["removed"] == {"waiting": 4, "scheduled": 1, "failed": 2, "completed": 3}
    assert ops.clear_queue(redis_client, settings, A, "waiting", priority="low", dry_run=True)["total"] == 1
    assert snapshot(redis_client) == before


def test_clear_drains_many_jobs_in_batches(redis_client, settings):
    ids = enqueue_many(redis_client, settings, "noop", [{"n": n} for n in range(2 * ops.BATCH + 77)], queue=A)
    result = ops.clear_queue(redis_client, settings, A)
    assert result["total"] == len(ids)
    assert redis_client.llen(queue_key(queue_catalog(settings)[A].physical("normal"))) == 0
    assert not list(redis_client.scan_iter(match=f"{KEY_PREFIX}:job:*"))
    assert not list(redis_client.scan_iter(match=f"{keyspace.JOBCTL}:clearing:*"))


def clear_state_keys(conn) -> list[str]:
    return [k.decode() for k in conn.scan_iter(match=f"{keyspace.JOBCTL}:clearing:*", count=1000)]


def existing(conn, ids: list[str]) -> list[bool]:
    with conn.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.exists(Job.key_for(job_id))
        return [bool(n) for n in pipe.execute()]


def test_clear_of_25000_jobs_reports_progress_and_removes_exactly_its_jobs(redis_client, settings):
    waiting = enqueue_many(redis_client, settings, "noop", [{} for _ in range(25_000)], queue=A)
    waiting += enqueue_many(redis_client, settings, "noop", [{}] * 7, queue=A, priority="high")
    scheduled = enqueue_many(
        redis_client, settings, "noop", [{}] * 3, queue=A, at=datetime.now(UTC) + timedelta(hours=1)
    )
    other = enqueue_many(redis_client, settings, "noop", [{}] * 50, queue=B)
    late: list[str] = []
    calls: list[tuple[int, int | None, str]] = []

    def on_progress(done: int, total: int | None, stage: str) -> None:
        calls.append((done, total, stage))
        if len(calls) == 2:  # mid-clear: these land in a fresh list and must stay
            late.extend(enqueue_many(redis_client, settings, "noop", [{}] * 5, queue=A))

    result = ops.clear_queue(redis_client, settings, A, "waiting", on_progress=on_progress)

    assert result["removed"] == {"waiting": 25_007} and result["total"] == 25_007
    done = [d for d, _, _ in calls]
    assert done[0] == 0 and done == sorted(done) and done[-1] == 25_007
    assert {t for _, t, _ in calls} == {25_007} and {s for _, _, s in calls} == {"clearing waiting"}
    assert len(calls) >= 25_007 // ops.BATCH  # a report after every batch
    assert not any(existing(redis_client, waiting))
    assert all(existing(redis_client, scheduled + other + late))
    assert redis_client.lrange(queue_key(f"{A}:normal"), 0, -1) == [i.encode() for i in late]
    assert totals(redis_client, settings, A)["scheduled"] == 3
    assert totals(redis_client, settings, B)["waiting"] == 50
    assert clear_state_keys(redis_client) == []


def test_clear_removes_the_rarer_data_keys_of_the_few_jobs_that_have_them(redis_client, settings):
    ids = enqueue_many(redis_client, settings, "noop", [{} for _ in range(2_500)], queue=A)
    rich = [ids[7], ids[1_234], ids[2_499]]  # in different chunks of a step, among jobs without them
    for job_id in rich:
        _, dependents, dependencies, results, executions = ops.job_data_keys(job_id)
        redis_client.sadd(dependents, "child")
        redis_client.sadd(dependencies, "parent")
        redis_client.xadd(results, {"type": "1"})
        redis_client.zadd(executions, {"e1": 1})
    assert ops.clear_queue(redis_client, settings, A)["total"] == 2_500
    with redis_client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.exists(*ops.job_data_keys(job_id))
        assert sum(pipe.execute()) == 0


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("stop_at", [1, 4])  # 1: right after claiming, before any batch; 4: after 3
def test_an_interrupted_clear_leaves_whole_jobs_and_the_next_clear_finishes(redis_client, settings, stop_at):
    ids = enqueue_many(redis_client, settings, "noop", [{} for _ in range(25_000)], queue=A)
    ids += enqueue_many(redis_client, settings, "noop", [{}] * 3, queue=A, priority="low")
    calls = []

    def interrupt(done: int, total: int | None, stage: str) -> None:
        calls.append(done)
        if len(calls) == stop_at:
            raise Interrupted(f"stopped at {done}")

    with pytest.raises(Interrupted):
        ops.clear_queue(redis_client, settings, A, "waiting", on_progress=interrupt)

    # every job is whole and still listed (in the queue or a claimed copy), or gone with all its data
    listed: set[str] = set()
    for key in redis_client.scan_iter(match=f"{keyspace.JOBCTL}:clearing:of:*"):
        for copy in redis_client.smembers(key):
            listed |= {i.decode() for i in redis_client.lrange(copy, 0, -1)}
    for physical in queue_catalog(settings)[A].physical_names:
        listed |= {i.decode() for i in redis_client.lrange(queue_key(physical), 0, -1)}
    alive = existing(redis_client, ids)
    assert [i in listed for i in ids] == alive
    gone = alive.count(False)
    assert gone == calls[-1] and (gone == 0) == (stop_at == 1)
    [failed] = audit.list_entries(redis_client, action="queue.clear")
    assert failed["outcome"] == "failed" and "Interrupted" in failed["error"]

    # nothing in the queue now, yet a dry run counts what the interrupted clear left, and a clear ends it
    assert totals(redis_client, settings, A)["waiting"] == 0
    assert ops.clear_queue(redis_client, settings, A, dry_run=True)["total"] == len(ids) - gone
    result = ops.clear_queue(redis_client, settings, A)
    assert result["total"] == len(ids) - gone
    assert not any(existing(redis_client, ids))
    assert clear_state_keys(redis_client) == []


def test_clear_refuses_dead_letter_active_and_unknown(redis_client, settings):
    with pytest.raises(UsageError, match="dead-letter") as exc:
        ops.clear_queue(redis_client, settings, "dead-letter", "all")
    assert "jobctl dlq purge" in exc.value.hint
    with pytest.raises(UsageError, match="active"):
        ops.clear_queue(redis_client, settings, A, "active")
    with pytest.raises(UsageError, match="unknown state"):
        ops.clear_queue(redis_client, settings, A, "everything")
    with pytest.raises(UsageError, match="priority"):
        ops.clear_queue(redis_client, settings, A, priority="urgent")
    with pytest.raises(NotFound):
        ops.clear_queue(redis_client, settings, "nope")


def test_clear_never_touches_dead_lettered_jobs(redis_client, tmp_path):
    from jobctl.core.worker import JobctlWorker

    settings = one_attempt(tmp_path, A)
    dead = enqueue_many(redis_client, settings, "fail", [{}], queue=A)[0]
    physical = queue_catalog(settings)[A].physical_names
    JobctlWorker(
        [rq_queue(redis_client, q) for q in physical],
        connection=redis_client,
        serializer=PayloadSerializer,
        settings=settings,
    ).work(burst=True)
    assert redis_client.zscore(keyspace.dlq_index(), dead) is not None
    # a stray failed-registry entry of the dead job (e.g. mid dead-lettering) is dropped, its data kept
    redis_client.zadd(FailedJobRegistry(physical[1], connection=redis_client).key, {dead: time.time()})
    result = ops.clear_queue(redis_client, settings, A, "all")
    assert result["total"] == 0 and result["kept_dead_letter"] == 1
    assert fetch(redis_client, [dead])[0] is not None
    assert redis_client.exists(keyspace.dlq_entry(dead))
    assert redis_client.zscore(keyspace.dlq_index(), dead) is not None


# --- delete -----------------------------------------------------------------------------------------


def test_delete_jobs_in_any_state_and_reports_the_rest(redis_client, tmp_path):
    settings = one_attempt(tmp_path, A)
    jobs = populate(redis_client, settings, A)
    running = enqueue_many(redis_client, settings, "noop", [{}], queue=B)[0]
    Job.fetch(running, connection=redis_client, serializer=PayloadSerializer).set_status(JobStatus.STARTED)
    targets = [jobs["waiting"][0], jobs["scheduled"][0], jobs["failed"][0], jobs["completed"][0]]

    result = ops.delete_jobs(redis_client, settings, [*targets, "no-such-job", running, targets[0]])

    assert result["deleted"] == targets
    assert result["not_found"] == ["no-such-job"]
    assert [r["id"] for r in result["refused"]] == [running]
    assert "jobctl job cancel" in result["refused"][0]["reason"]
    assert fetch(redis_client, targets) == [None] * 4
    assert not redis_client.exists(f"{KEY_PREFIX}:results:{targets[2]}")
    t = totals(redis_client, settings, A)
    assert (t["waiting"], t["scheduled"], t["failed"], t["completed"]) == (3, 0, 1, 2)


def test_delete_refuses_dead_lettered_jobs_and_bad_ids(redis_client, settings):
    job_id = enqueue_many(redis_client, settings, "noop", [{}], queue=A)[0]
    redis_client.zadd(keyspace.dlq_index(), {job_id: time.time()})
    result = ops.delete_jobs(redis_client, settings, [job_id])
    assert result["deleted"] == [] and "jobctl dlq purge" in result["refused"][0]["reason"]
    with pytest.raises(UsageError):
        ops.delete_jobs(redis_client, settings, ["bad id!"])
    with pytest.raises(UsageError):
        ops.delete_jobs(redis_client, settings, [])


# --- retry ------------------------------------------------------------------------------------------


def test_retry_failed_requeues_with_fresh_attempts(redis_client, tmp_path):
    settings = one_attempt(tmp_path, A)
    failed = enqueue_many(redis_client, settings, "fail", [{}] * 2, queue=A, priority="low")
    waiting = enqueue_many(redis_client, settings, "noop", [{}], queue=B)[0]
    run_rq_worker(redis_client, settings, A)
    physical = queue_catalog(settings)[A].physical("low")
    assert set(FailedJobRegistry(physical, connection=redis_client).get_job_ids(cleanup=False)) == set(failed)
    before = fetch(redis_client, failed)[0]
    assert before.retries_left is None  # one attempt: no retries at all

    settings = one_attempt(tmp_path, A, attempts=4)  # the policy now allows 4 attempts
    result = ops.retry_failed(redis_client, settings, [*failed, waiting, "no-such-job"])

    assert result["retried"] == failed and result["not_found"] == ["no-such-job"]
    assert result["refused"] == [{"id": waiting, "reason": "not failed (status queued)"}]
    assert FailedJobRegistry(physical, connection=redis_client).count == 0
    assert [i.decode() for i in redis_client.lrange(queue_key(physical), 0, -1)] == failed
    for job in fetch(redis_client, failed):
        assert job.get_status() == JobStatus.QUEUED and job.origin == physical
        assert job.retries_left == 3 and len(job.retry_intervals) == 3
        assert job.meta["attempts"] == [] and job.meta["queue"] == A
        assert job.started_at is None and job.ended_at is None
    assert redis_client.ttl(f"{KEY_PREFIX}:job:{failed[0]}") == -1  # no failure_ttl on a queued job

    again = ops.retry_failed(redis_client, settings, failed)  # no longer failed
    assert again["retried"] == [] and len(again["refused"]) == 2


def test_retry_failed_refuses_dead_lettered_jobs(redis_client, tmp_path):
    settings = one_attempt(tmp_path, A)
    job_id = enqueue_many(redis_client, settings, "fail", [{}], queue=A)[0]
    run_rq_worker(redis_client, settings, A)
    redis_client.zadd(keyspace.dlq_index(), {job_id: time.time()})
    result = ops.retry_failed(redis_client, settings, [job_id])
    assert result["retried"] == [] and result["refused"] == [
        {"id": job_id, "reason": "dead-lettered: retry it again to replay it"}
    ]


def run_jobctl_worker(conn, settings, queue: str) -> None:
    """jobctl's own worker, burst: a failing job with no attempts left is dead-lettered."""
    JobctlWorker(
        [rq_queue(conn, p) for p in queue_catalog(settings)[queue].physical_names],
        connection=conn,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)


def immediate_retries(tmp_path, queue: str, attempts: int):
    """A jobctl.toml giving `queue` this many attempts, retried at once (no backoff); fresh settings."""
    (tmp_path / "jobctl.toml").write_text(
        f"[queues.{queue}]\nattempts = {attempts}\n[queues.{queue}.backoff]\ndelays = [0]\n"
    )
    return load_settings()


def run_one_attempt(conn, settings, queue: str) -> int:
    """jobctl's worker runs exactly one attempt of the queue's next job (0 when there was none)."""
    return JobctlWorker(
        [rq_queue(conn, p) for p in queue_catalog(settings)[queue].physical_names],
        connection=conn,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True, max_jobs=1)


def test_retry_jobs_retries_failed_replays_dead_and_says_per_id_what_happened(redis_client, tmp_path):
    settings = one_attempt(tmp_path, A)
    [dead] = enqueue_many(redis_client, settings, "fail", [{}], queue=A)
    run_jobctl_worker(redis_client, settings, A)  # jobctl: dead-lettered
    [failed] = enqueue_many(redis_client, settings, "fail", [{}], queue=A)
    run_rq_worker(redis_client, settings, A)  # plain RQ, after jobctl's (whose sweep would take it)
    assert redis_client.zscore(keyspace.dlq_index(), dead) is not None
    [waiting] = enqueue_many(redis_client, settings, "noop", [{}], queue=B)

    settings = one_attempt(tmp_path, A, attempts=3)
    with audit.acting_as(audit.Actor("ada", "cli")):
        result = ops.retry_jobs(redis_client, settings, [dead, "ghost", failed, waiting, dead])

    assert result["results"] == [
        {"id": dead, "outcome": "replayed", "reason": None},
        {"id": "ghost", "outcome": "not_found", "reason": "no job 'ghost'"},
        {"id": failed, "outcome": "retried", "reason": None},
        {"id": waiting, "outcome": "refused", "reason": "not failed (status queued)"},
    ]
    assert (result["retried"], result["replayed"], result["not_found"]) == ([failed], [dead], ["ghost"])
    assert result["refused"] == [{"id": waiting, "reason": "not failed (status queued)"}]
    # both are back on their queue with the policy's fresh attempts, whichever road they took
    physical = queue_catalog(settings)[A].physical("normal")
    assert {i.decode() for i in redis_client.lrange(queue_key(physical), 0, -1)} == {failed, dead}
    for job in fetch(redis_client, [failed, dead]):
        assert job.get_status() == JobStatus.QUEUED and job.retries_left == 2 and job.meta["attempts"] == []
    assert redis_client.zscore(keyspace.dlq_index(), dead) is None
    assert ops.retry_jobs(redis_client, settings, [dead])["refused"] == [
        {"id": dead, "reason": "not failed (status queued)"}
    ]  # replayed once, not twice

    # audited: the verb as asked, and the replay by the path `jobctl dlq retry` takes
    got = [
        (e["action"], e["actor"], e["face"], e["target"], e["count"], e["outcome"])
        for e in audit.list_entries(redis_client)
        if e["action"] != "enqueue"  # the jobs this test set up
    ][1:]
    assert got == [
        ("job.retry", "ada", "cli", f"{dead}, ghost, {failed}, {waiting}, {dead}", 2, "partial"),
        ("dlq.replay", "ada", "cli", dead, 1, "ok"),
    ]
    assert fetch(redis_client, [dead])[0].meta["replays"][0]["by"] == "ada (cli)"


def test_retry_jobs_checks_the_queue_when_given_one(redis_client, tmp_path):
    settings = one_attempt(tmp_path, A, B)
    [dead] = enqueue_many(redis_client, settings, "fail", [{}], queue=B)
    run_jobctl_worker(redis_client, settings, B)
    [dead_too] = enqueue_many(redis_client, settings, "fail", [{}], queue=A)
    run_jobctl_worker(redis_client, settings, A)
    [failed] = enqueue_many(redis_client, settings, "fail", [{}], queue=A)
    run_rq_worker(redis_client, settings, A)  # after jobctl's: its sweep would dead-letter this one

    elsewhere = ops.retry_jobs(redis_client, settings, [failed, dead, "ghost"], queue=B)
    assert elsewhere["results"] == [
        {
            "id": failed,
            "outcome": "not_found",
            "reason": f"job {failed} is not in queue '{B}' (it is in '{A}')",
        },
        {"id": dead, "outcome": "replayed", "reason": None},
        {"id": "ghost", "outcome": "not_found", "reason": "no job 'ghost'"},
    ]
    assert fetch(redis_client, [failed])[0].get_status() == JobStatus.FAILED  # untouched

    wrong = ops.retry_jobs(redis_client, settings, [dead_too], queue=B)["results"]
    assert wrong[0]["reason"] == f"job {dead_too} is not in queue '{B}' (it was dead-lettered from '{A}')"
    # the dead-letter queue holds every dead job, and none of the failed ones
    in_dlq = ops.retry_jobs(redis_client, settings, [dead_too, failed], queue="dead-letter")
    assert in_dlq["replayed"] == [dead_too] and in_dlq["not_found"] == [failed]
    assert ops.retry_jobs(redis_client, settings, [failed], queue=A)["retried"] == [failed]
    with pytest.raises(NotFound):
        ops.retry_jobs(redis_client, settings, [failed], queue="nope")
    with pytest.raises(UsageError):
        ops.retry_jobs(redis_client, settings, ["bad id!"])


# --- pause / resume ---------------------------------------------------------------------------------


def test_pause_and_resume_toggle_the_paused_set(redis_client, settings):
    assert ops.paused_queues(redis_client) == set()
    assert ops.pause_queue(redis_client, settings, A) == {"queue": A, "paused": True, "changed": True}
    assert ops.pause_queue(redis_client, settings, A)["changed"] is False
    ops.pause_queue(redis_client, settings, B)
    assert ops.paused_queues(redis_client) == {A, B}
    assert ops.resume_queue(redis_client, settings, A) == {"queue": A, "paused": False, "changed": True}
    assert ops.resume_queue(redis_client, settings, A)["changed"] is False
    assert ops.paused_queues(redis_client) == {B}
    with pytest.raises(NotFound):
        ops.pause_queue(redis_client, settings, "nope")
    with pytest.raises(UsageError):
        ops.pause_queue(redis_client, settings, "dead-letter")


# --- cancel -----------------------------------------------------------------------------------------


def test_cancel_waiting_and_scheduled_jobs(redis_client, tmp_path):
    settings = one_attempt(tmp_path, A)
    jobs = populate(redis_client, settings, A)
    for job_id, was in ((jobs["waiting"][0], "queued"), (jobs["scheduled"][0], "scheduled")):
        assert ops.cancel_job(redis_client, settings, job_id) == {
            "id": job_id,
            "was": was,
            "action": "canceled",
        }
        job = fetch(redis_client, [job_id])[0]
        assert job.get_status() == JobStatus.CANCELED
        assert job_id in CanceledJobRegistry(job.origin, connection=redis_client).get_job_ids(cleanup=False)
    t = totals(redis_client, settings, A)
    assert (t["waiting"], t["scheduled"]) == (3, 0)
    with pytest.raises(UsageError, match="already canceled"):
        ops.cancel_job(redis_client, settings, jobs["waiting"][0])
    with pytest.raises(UsageError, match="finished"):
        ops.cancel_job(redis_client, settings, jobs["completed"][0])
    with pytest.raises(UsageError, match="failed"):
        ops.cancel_job(redis_client, settings, jobs["failed"][0])
    with pytest.raises(NotFound):
        ops.cancel_job(redis_client, settings, "no-such-job")


def test_cancel_running_job_asks_its_worker_to_stop_it(redis_client, settings):
    job_id = enqueue_many(redis_client, settings, "sleep", [{"seconds": 30}], queue=B)[0]
    worker = subprocess.Popen(
        [sys.executable, "-m", "jobctl", "worker", "start", "--queue", B, "--burst"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while fetch(redis_client, [job_id])[0].get_status() != JobStatus.STARTED:
            assert time.monotonic() < deadline, "job never started"
            time.sleep(0.05)
        refused = ops.delete_jobs(redis_client, settings, [job_id])["refused"]
        assert [r["id"] for r in refused] == [job_id]
        result = ops.cancel_job(redis_client, settings, job_id)
        assert result["was"] == "started" and result["action"] == "stop requested" and result["worker"]
        out, _ = worker.communicate(timeout=20)  # the 30 s job did not run to its end
        assert fetch(redis_client, [job_id])[0].get_status() == JobStatus.STOPPED, out
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
