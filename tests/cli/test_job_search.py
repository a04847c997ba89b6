"""jobctl job search; scheduled jobs' run time and retry counts in `queue show` and `job show`."""

from __future__ import annotations

from typer.testing import CliRunner

from jobctl.cli.app import app
from jobctl.core import search
from jobctl.core.bulk import enqueue, enqueue_many
from tests.cli.test_ops_commands import dead_flaky, show
from tests.core.test_ops import A, immediate_retries, run_one_attempt

WELCOME = {"name": "Ann", "login_url": "https://shop.example/login"}


def email(conn, settings, to) -> str:
    return enqueue(conn, settings, "email", {"to": to, "template": "welcome", "data": WELCOME})


def test_search_by_id_finds_it_anywhere_and_exits_4_when_missing(cli, redis_client, settings):
    job_id = enqueue(redis_client, settings, "noop", {}, queue="analytics-aggregation", delay=3600)
    out = cli("job", "search", "--id", job_id).stdout
    first, second = out.splitlines()
    runs_at = cli.json("job", "search", "--id", job_id)["jobs"][0]["runs_at"]
    assert first.split() == [job_id, "scheduled", "runs", *runs_at[:16].split("T"), "UTC"]
    assert second.strip() == "noop on analytics-aggregation (low), attempts 0 of 3"
    data = cli.json("job", "search", "--id", job_id)
    assert [(j["id"], j["state"]) for j in data["jobs"]] == [(job_id, "scheduled")]

    missing = cli("job", "search", "--id", "no-such-job", code=4)
    assert "no job 'no-such-job'" in missing.stderr and "hint:" in missing.stderr
    assert cli.json("job", "search", "--id", "no-such-job", code=4)["error"]["code"] == "not_found"
    filtered = cli("job", "search", "--id", job_id, "--state", "failed", code=4)
    assert "matching those filters" in filtered.stderr


def test_search_by_recipient_and_type_and_the_bounded_scan_line(cli, redis_client, settings, monkeypatch):
    monkeypatch.setattr(search, "BATCH", 5)
    enqueue_many(redis_client, settings, "noop", [{}] * 30)
    ann = email(redis_client, settings, "Ann@Example.com")
    out = cli("job", "search", "--to", "ann@example.com").stdout
    assert ann in out and "email-sending" in out and "waiting" in out
    assert "scanned" not in out  # every job examined: nothing to say

    bounded = cli("job", "search", "--type", "noop", "--scan-limit", "10", "--limit", "100").stdout
    assert (
        "scanned 10 of 31 jobs (newest first); narrow with --queue/--state or raise --scan-limit" in bounded
    )
    limited = cli("job", "search", "--type", "noop", "--limit", "3").stdout
    assert "stopped at --limit 3 matches; more may match" in limited
    data = cli.json("job", "search", "--type", "noop", "--scan-limit", "10")
    assert (data["scanned"], data["total"], data["complete"], data["stopped"]) == (
        10,
        31,
        False,
        "scan_limit",
    )
    assert "no jobs matched" in cli("job", "search", "--type", "fail").stdout


def test_search_refuses_bad_input_with_exit_2(cli):
    assert "nothing to search for" in cli("job", "search", code=2).stderr
    assert "unknown job type" in cli("job", "search", "--type", "nope", code=2).stderr
    assert "no recipient" in cli("job", "search", "--type", "noop", "--to", "a@b.c", code=2).stderr
    assert "unknown queue" in cli("job", "search", "--type", "noop", "--queue", "nope", code=4).stderr


def test_queue_show_scheduled_says_when_they_run(cli, redis_client, settings):
    job_id = enqueue(redis_client, settings, "noop", {}, delay=3600)
    out = CliRunner().invoke(app, ["queue", "show", "email-sending", "--state", "scheduled"]).stdout
    assert "runs at (UTC)" in out and "enqueued (UTC)" not in out
    runs_at = cli.json("queue", "show", "email-sending", "--state", "scheduled")["jobs"][0]["runs_at"]
    assert runs_at[5:16].replace("T", " ") in out and job_id in out
    assert "runs_at" in show(cli, job_id)


def test_retried_twice_and_dead_after_all_attempts_show_the_same_counts_everywhere(
    cli, redis_client, tmp_path
):
    settings = immediate_retries(tmp_path, "email-sending", 4)
    [retried] = enqueue_many(
        redis_client,
        settings,
        "flaky",
        [{"counter": str(tmp_path / "n"), "fail_times": 9}],
        queue="email-sending",
    )
    for _ in range(2):
        run_one_attempt(redis_client, settings, "email-sending")
    shown = show(cli, retried)
    assert shown["status"] == "queued"
    assert {k: shown["attempts"][k] for k in ("made", "allowed", "retries_left")} == {
        "made": 2,
        "allowed": 4,
        "retries_left": 2,
    }
    assert "2 of 4, retries left 2" in show(cli, retried, text=True)
    [row] = cli.json("job", "search", "--id", retried)["jobs"]
    assert row["attempts"] == {"made": 2, "allowed": 4, "retries_left": 2}
    assert "attempts 2 of 4" in cli("job", "search", "--id", retried).stdout

    dead, _ = dead_flaky(redis_client, immediate_retries(tmp_path, A, 2), tmp_path, 2)
    assert "2 of 2, retries left 0" in show(cli, dead, text=True)
    [row] = cli.json("job", "search", "--id", dead)["jobs"]
    assert row["state"] == "dead" and row["attempts"] == {"made": 2, "allowed": 2, "retries_left": 0}
