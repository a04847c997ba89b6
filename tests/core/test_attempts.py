"""Retries left, as every face shows it (attempts.progress through job_detail and queue_jobs), checked
against what a real worker then does."""

from __future__ import annotations

from rq.job import Job

from jobctl.core.browse import job_detail, queue_jobs
from jobctl.core.bulk import enqueue
from jobctl.core.lifecycle import Lifecycle
from tests.core.test_lifecycle import claim, expire_leases, queues
from tests.core.test_ops import immediate_retries, run_one_attempt

Q = "email-sending"  # the queue tests.core.test_lifecycle's helpers work on
N = 4


def shown(conn, settings, job_id: str) -> tuple[str, int, int, int]:
    """(status, made, allowed, retries left) from `job show`'s data, checked equal to `queue show`'s row."""
    detail = job_detail(conn, settings, job_id)
    tries = detail["attempts"]
    assert tries["made"] == len(tries["history"])
    rows = [
        j
        for state in ("waiting", "failed", "completed", "active")
        for j in queue_jobs(conn, settings, Q, state, limit=50)["jobs"]
        if j["id"] == job_id
    ]
    if rows:
        assert rows[0]["attempts"] == {k: tries[k] for k in ("made", "allowed", "retries_left")}
    return detail["status"], tries["made"], tries["allowed"], tries["retries_left"]


def test_retries_left_at_every_attempt_is_what_the_worker_then_runs(redis_client, tmp_path):
    settings = immediate_retries(tmp_path, Q, N)
    counter = tmp_path / "runs"
    job_id = enqueue(redis_client, settings, "flaky", {"counter": str(counter), "fail_times": 99}, queue=Q)
    seen = [shown(redis_client, settings, job_id)]
    while run_one_attempt(redis_client, settings, Q):
        seen.append(shown(redis_client, settings, job_id))
    runs = int(counter.read_text())
    assert runs == N
    assert seen == [
        ("queued", 0, N, N - 1),  # the first attempt is not a retry
        ("queued", 1, N, N - 1),
        ("queued", 2, N, N - 2),
        ("queued", 3, N, N - 3),
        ("failed", N, N, 0),
    ]
    # after k attempts, with one waiting, exactly `retries left` more ran
    for _status, made, _, left in seen[1:-1]:
        assert left == runs - made


def test_a_running_attempt_is_not_left_and_a_crashed_one_counts_as_made(redis_client, tmp_path):
    settings = immediate_retries(tmp_path, Q, N)
    job_id = enqueue(redis_client, settings, "noop", {}, queue=Q)
    life = Lifecycle(redis_client)
    claim(life, settings, 1)  # attempt 1 starts on a worker ...
    assert shown(redis_client, settings, job_id) == ("started", 0, N, N - 1)
    expire_leases(redis_client, settings)  # ... that dies: the lease runs out and reclaim requeues it
    assert life.reclaim(queues(settings)) == (1, [])
    status, made, allowed, left = shown(redis_client, settings, job_id)
    assert (status, made, allowed, left) == ("queued", 1, N, N - 1)
    assert job_detail(redis_client, settings, job_id)["attempts"]["history"][0]["outcome"] == "abandoned"
    # reading it changed nothing: the worker folds the crash in itself
    assert redis_client.hget(Job.key_for(job_id), "jobctl_abandoned") not in (None, b"[]")
    run_one_attempt(redis_client, settings, Q)
    assert shown(redis_client, settings, job_id) == ("finished", 2, N, 0)
