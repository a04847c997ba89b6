"""jobctl clear | retry | job delete | job cancel | queue pause | queue resume, through the CLI."""

from __future__ import annotations

import json

from rq.job import Job, JobStatus

from jobctl.core import ops
from jobctl.core.enqueue import enqueue_many
from jobctl.core.payloads import PayloadSerializer
from tests.core.test_ops import A, B, fetch, one_attempt, populate, run_rq_worker, snapshot, totals


def test_clear_needs_yes_without_a_terminal_and_removes_nothing(cli, redis_client, tmp_path):
    settings = one_attempt(tmp_path, A)
    populate(redis_client, settings, A)
    before = snapshot(redis_client)
    result = cli("clear", A, "--state", "all", code=2)
    assert "needs confirmation" in result.stderr and "--yes" in result.stderr
    data = cli.json("clear", A, code=2)
    assert data["error"]["code"] == "usage"
    assert snapshot(redis_client) == before


def test_clear_dry_run_needs_no_yes_and_changes_nothing(cli, redis_client, tmp_path):
    settings = one_attempt(tmp_path, A)
    populate(redis_client, settings, A)
    before = snapshot(redis_client)
    data = cli.json("clear", A, "--state", "all", "--dry-run")
    assert data["dry_run"] is True and data["total"] == 10
    out = cli("clear", A, "--state", "failed", "--dry-run").stdout
    assert "would remove 2 job(s)" in out
    assert snapshot(redis_client) == before


def test_clear_with_yes_prints_counts_and_spares_other_queues(cli, redis_client, tmp_path):
    settings = one_attempt(tmp_path, A, B)
    populate(redis_client, settings, A)
    populate(redis_client, settings, B)
    result = cli("clear", A, "--state", "all", "--priority", "high", "--yes")
    lines = result.stdout.splitlines()
    assert lines[0] == f"{A}:high: removed 5 job(s)"
    assert all(len(line) <= 80 for line in lines)
    assert "active" in result.stdout  # says running jobs are never cleared
    t = totals(redis_client, settings, A)
    assert (t["waiting"], t["failed"], t["scheduled"], t["completed"]) == (1, 0, 1, 3)
    data = cli.json("clear", A, "--state", "all", "--yes")
    assert data["removed"] == {"waiting": 1, "scheduled": 1, "failed": 0, "completed": 3}
    assert totals(redis_client, settings, B) == {"waiting": 4, "active": 0, "scheduled": 1, "completed": 3,
                                                 "failed": 2}


def test_clear_dead_letter_unknown_queue_and_bad_state(cli):
    result = cli("clear", "dead-letter", "--yes", code=2)
    assert "jobctl dlq purge" in result.stderr
    assert cli("clear", "nope", "--yes", code=4).stderr.startswith("jobctl: error: ")
    assert "jobctl job cancel" in cli("clear", A, "--state", "active", "--yes", code=2).stderr


def test_job_delete(cli, redis_client, settings):
    ids = enqueue_many(redis_client, settings, "noop", [{}] * 3, queue=A)
    cli("job", "delete", ids[0], code=2)  # no terminal, no --yes
    assert fetch(redis_client, ids[:1]) != [None]

    assert cli.json("job", "delete", ids[0], "--yes") == {"deleted": [ids[0]], "not_found": [], "refused": []}
    assert fetch(redis_client, ids[:1]) == [None]

    result = cli("job", "delete", "ghost-1", "ghost-2", "--yes", code=4)
    assert "ghost-1" in result.stderr and "ghost-2" in result.stderr

    running = ids[2]
    Job.fetch(running, connection=redis_client, serializer=PayloadSerializer).set_status(JobStatus.STARTED)
    result = cli("job", "delete", ids[1], "ghost-3", running, "--yes", "--json", code=1)
    data = json.loads(result.stdout)  # the result still goes to stdout
    assert data["deleted"] == [ids[1]] and data["not_found"] == ["ghost-3"]
    assert data["refused"][0]["id"] == running
    assert result.stderr.startswith("jobctl: error: 2 of 3 job(s) not deleted")
    assert "ghost-3" in result.stderr and running in result.stderr and "jobctl job cancel" in result.stderr


def test_retry(cli, redis_client, tmp_path):
    settings = one_attempt(tmp_path, A)
    failed = enqueue_many(redis_client, settings, "fail", [{}] * 2, queue=A)
    run_rq_worker(redis_client, settings, A)
    waiting = enqueue_many(redis_client, settings, "noop", [{}], queue=A)[0]

    one_attempt(tmp_path, A, attempts=3)
    out = cli("retry", failed[0]).stdout
    assert out.startswith(f"retried 1 job(s): {failed[0]}")
    job = fetch(redis_client, failed[:1])[0]
    assert job.get_status() == JobStatus.QUEUED and job.retries_left == 2

    assert "ghost" in cli("retry", "ghost", code=4).stderr
    result = cli("retry", failed[1], waiting, "ghost", "--json", code=1)
    data = json.loads(result.stdout)
    assert data["retried"] == [failed[1]] and data["not_found"] == ["ghost"]
    assert data["refused"] == [{"id": waiting, "reason": "not failed (status queued)"}]
    assert waiting in result.stderr and "ghost" in result.stderr


def test_job_cancel(cli, redis_client, tmp_path):
    settings = one_attempt(tmp_path, A)
    jobs = populate(redis_client, settings, A)
    assert cli.json("job", "cancel", jobs["waiting"][0]) == {"id": jobs["waiting"][0], "was": "queued",
                                                             "action": "canceled"}
    out = cli("job", "cancel", jobs["scheduled"][0]).stdout
    assert out.strip() == f"{jobs['scheduled'][0]}: was scheduled, canceled"
    assert "finished" in cli("job", "cancel", jobs["completed"][0], code=2).stderr
    cli("job", "cancel", "ghost", code=4)


def test_queue_pause_and_resume(cli, redis_client):
    assert cli.json("queue", "pause", A) == {"queue": A, "paused": True, "changed": True}
    assert cli("queue", "pause", A).stdout.strip() == f"{A}: paused (already paused)"
    assert ops.paused_queues(redis_client) == {A}
    assert cli("queue", "resume", A).stdout.strip() == f"{A}: running"
    assert cli.json("queue", "resume", A)["changed"] is False
    assert ops.paused_queues(redis_client) == set()
    cli("queue", "pause", "nope", code=4)
    cli("queue", "pause", "dead-letter", code=2)
