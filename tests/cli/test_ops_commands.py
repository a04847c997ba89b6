"""jobctl clear | retry | job delete | job cancel | queue pause | queue resume, through the CLI."""

from __future__ import annotations

import json
import re

from rq.job import Job, JobStatus

from jobctl.cli.app import app
from jobctl.core import ops
from jobctl.core.bulk import enqueue_many
from jobctl.core.payloads import PayloadSerializer
from tests.core.test_ops import (
    A,
    B,
    clear_state_keys,
    existing,
    fetch,
    immediate_retries,
    one_attempt,
    populate,
    run_one_attempt,
    run_rq_worker,
    snapshot,
    totals,
)


def test_clear_needs_yes_without_a_terminal_and_removes_nothing(cli, redis_client, tmp_path):
    settings = one_attempt(tmp_path, A)
    populate(redis_client, settings, A)
    before = snapshot(redis_client)
    result = cli("clear", A, "--state", "all", code=2)
    assert "needs confirmation" in result.stderr and "--yes" in result.stderr
    data = cli.json("clear", A, code=2)
    assert data["error"]["code"] == "usage"
    assert snapshot(redis_client) == before


def test_clear_of_200000_waiting_jobs_through_the_cli(cli, redis_client, settings):
    ids = enqueue_many(redis_client, settings, "noop", ({} for _ in range(200_000)), queue=A)
    others = enqueue_many(redis_client, settings, "noop", [{}] * 30, queue=B)
    data = cli.json("clear", A, "--yes")
    assert data["removed"] == {"waiting": 200_000} and data["count"] == data["total"] == 200_000
    assert data["elapsed_seconds"] > 0 and data["rate_per_second"] > 0
    assert (
        totals(redis_client, settings, A)["waiting"] == 0
        and totals(redis_client, settings, B)["waiting"] == 30
    )
    assert not any(existing(redis_client, ids)) and all(existing(redis_client, others))
    assert clear_state_keys(redis_client) == []


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
    assert re.fullmatch(rf"{A}:high: removed 5 job\(s\) in \d+\.\d+ s \([\d,]+/s\)", lines[0])
    assert all(len(line) <= 80 for line in lines)
    assert "active" in result.stdout  # says running jobs are never cleared
    t = totals(redis_client, settings, A)
    assert (t["waiting"], t["failed"], t["scheduled"], t["completed"]) == (1, 0, 1, 3)
    data = cli.json("clear", A, "--state", "all", "--yes")
    assert data["removed"] == {"waiting": 1, "scheduled": 1, "failed": 0, "completed": 3}
    assert (
        data["count"] == data["total"] == 5 and data["elapsed_seconds"] >= 0 and data["rate_per_second"] > 0
    )
    assert totals(redis_client, settings, B) == {
        "waiting": 4,
        "active": 0,
        "scheduled": 1,
        "completed": 3,
        "failed": 2,
    }


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


def show(cli, job_id: str, text: bool = False):
    """`job show` of a job that may have failed: its output quotes the job's traceback, which the cli
    fixture would take for a crash of jobctl itself."""
    result = cli.runner.invoke(app, ["job", "show", job_id, *([] if text else ["--json"])])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout if text else json.loads(result.stdout)


def dead_flaky(redis_client, settings, tmp_path, attempts: int) -> tuple[str, object]:
    """A flaky job that failed all its `attempts` on a real worker and was dead-lettered; and its counter."""
    counter = tmp_path / "runs"
    [job_id] = enqueue_many(
        redis_client, settings, "flaky", [{"counter": str(counter), "fail_times": attempts}], queue=A
    )
    while run_one_attempt(redis_client, settings, A):
        pass
    assert int(counter.read_text()) == attempts
    return job_id, counter


def test_retry_replays_a_dead_job_which_then_completes_on_a_worker(cli, redis_client, tmp_path):
    settings = immediate_retries(tmp_path, A, 2)
    job_id, counter = dead_flaky(redis_client, settings, tmp_path, 2)
    assert show(cli, job_id)["status"] == "failed"
    assert [e["attempt_count"] for e in cli.json("dlq", "list")["entries"]] == [2]

    out = cli("retry", job_id).stdout
    assert out.strip() == f"replayed 1 dead-lettered job(s): {job_id}"
    shown = show(cli, job_id)  # its last error (and traceback) is still shown until it runs again
    assert shown["status"] == "queued" and shown["attempts"]["made"] == 0
    assert (shown["attempts"]["allowed"], shown["attempts"]["retries_left"]) == (2, 1)
    assert shown["replays"][0]["by"].endswith("(cli)")
    assert cli.json("dlq", "list")["entries"] == []

    assert run_one_attempt(redis_client, settings, A) == 1  # the third run: the flaky job now succeeds
    done = cli.json("job", "show", job_id)
    assert done["status"] == "finished" and done["result"] == {"attempt": 3}
    assert [a["outcome"] for a in done["attempts"]["history"]] == ["succeeded"]
    assert int(counter.read_text()) == 3
    [entry] = cli.json("audit", "list", "--action", "dlq.replay")["entries"]
    assert entry["face"] == "cli" and entry["target"] == job_id


def test_retry_a_mix_says_per_id_what_happened(cli, redis_client, tmp_path):
    settings = immediate_retries(tmp_path, A, 1)
    dead, _ = dead_flaky(redis_client, settings, tmp_path, 1)
    failed, failed_too = enqueue_many(redis_client, settings, "fail", [{}] * 2, queue=A)
    run_rq_worker(redis_client, settings, A)  # plain RQ: left failed, not dead-lettered
    [waiting] = enqueue_many(redis_client, settings, "noop", [{}], queue=B)

    result = cli("retry", failed, dead, waiting, "ghost", code=1)
    assert result.stdout.splitlines() == [
        f"retried 1 job(s): {failed}",
        f"replayed 1 dead-lettered job(s): {dead}",
    ]
    assert result.stderr.strip() == (
        f"jobctl: error: 2 of 4 job(s) not retried: {waiting}: not failed (status "
        "queued); ghost: no job 'ghost'"
    )
    data = cli.json("retry", waiting, "ghost", code=1)
    assert [(r["id"], r["outcome"]) for r in data["results"]] == [
        (waiting, "refused"),
        ("ghost", "not_found"),
    ]
    assert "ghost: no job 'ghost'" in cli("retry", "ghost", code=4).stderr

    # --queue: the job must be in that queue
    wrong = cli("retry", failed_too, "--queue", B, code=4)
    assert f"{failed_too}: job {failed_too} is not in queue '{B}' (it is in '{A}')" in wrong.stderr
    assert "unknown queue" in cli("retry", failed_too, "--queue", "nope", code=4).stderr
    assert cli.json("retry", failed_too, "--queue", A)["retried"] == [failed_too]


def test_job_show_retries_left_at_each_attempt(cli, redis_client, tmp_path):
    attempts = 3
    settings = immediate_retries(tmp_path, A, attempts)
    counter = tmp_path / "runs"
    [job_id] = enqueue_many(
        redis_client, settings, "flaky", [{"counter": str(counter), "fail_times": 9}], queue=A
    )
    seen = []
    while True:
        tries = show(cli, job_id)["attempts"]
        seen.append((tries["made"], tries["allowed"], tries["retries_left"]))
        assert f"{tries['made']} of {tries['allowed']}, retries left {tries['retries_left']}" in show(
            cli, job_id, text=True
        )
        waiting = cli.json("queue", "show", A)["jobs"]  # empty once dead-lettered
        assert [j["attempts"] for j in waiting] in (
            [],
            [{k: tries[k] for k in ("made", "allowed", "retries_left")}],
        )
        if not run_one_attempt(redis_client, settings, A):
            break
    assert int(counter.read_text()) == attempts  # what actually ran
    assert seen == [(0, 3, 2), (1, 3, 2), (2, 3, 1), (3, 3, 0)]


def test_job_cancel(cli, redis_client, tmp_path):
    settings = one_attempt(tmp_path, A)
    jobs = populate(redis_client, settings, A)
    assert cli.json("job", "cancel", jobs["waiting"][0]) == {
        "id": jobs["waiting"][0],
        "was": "queued",
        "action": "canceled",
    }
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
