"""`jobctl enqueue email|email-bulk|noop --at/--in`, and the API's at=/delay=."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from rq.job import Job

from jobctl.core.enqueue import scheduled_for
from jobctl.core.stats import queue_stats

WELCOME = ("--template", "welcome", "--data", "name=Ann", "--data", "login_url=https://x.example/login")


def now_ts() -> float:
    return datetime.now(UTC).timestamp()


def future_z(seconds: int = 3600) -> tuple[str, datetime]:
    when = datetime.fromtimestamp(math.ceil(now_ts() + seconds), UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ"), when


def totals(redis_client, settings) -> dict:
    out = {"waiting": 0, "scheduled": 0}
    for q in queue_stats(redis_client, settings)["queues"]:
        for key in out:
            out[key] += q["totals"][key]
    return out


@pytest.fixture
def recipients_csv(tmp_path):
    csv = tmp_path / "recipients.csv"
    csv.write_text("email,name\n" + "".join(f"user{i}@example.com,User {i}\n" for i in range(30)))
    return csv


def test_noop_in_json_reports_scheduled_for(cli, settings, redis_client):
    before = now_ts()
    data = cli.json("enqueue", "noop", "--queue", "daily-reports", "--in", "10m")
    assert set(data) == {"job_id", "scheduled_for"}
    due = datetime.fromisoformat(data["scheduled_for"])
    assert due.utcoffset() == timedelta(0)  # UTC, with its offset spelled out
    assert before + 600 <= due.timestamp() <= now_ts() + 601
    assert scheduled_for(redis_client, data["job_id"]) == due  # what landed in Redis
    stats = cli.json("stats")
    q = next(q for q in stats["queues"] if q["queue"] == "daily-reports")
    assert q["totals"]["scheduled"] == 1 and q["totals"]["waiting"] == 0
    page = cli.json("queue", "show", "daily-reports", "--state", "scheduled")
    assert [j["id"] for j in page["jobs"]] == [data["job_id"]]
    assert cli.json("job", "show", data["job_id"])["status"] == "scheduled"


def test_noop_at_with_offset_and_count(cli, redis_client, settings):
    text, when = future_z(7200)
    local = when.astimezone(timezone(timedelta(hours=3))).isoformat()  # 2026-...T..+03:00, same instant
    data = cli.json("enqueue", "noop", "--queue", "daily-reports", "--count", "5", "--at", local)
    assert data["count"] == 5 and len(data["job_ids"]) == 5
    assert data["scheduled_for"] == when.isoformat()
    assert totals(redis_client, settings) == {"waiting": 0, "scheduled": 5}
    again = cli.json("enqueue", "noop", "--queue", "daily-reports", "--at", text)
    assert datetime.fromisoformat(again["scheduled_for"]) == when


def test_text_output(cli):
    text, when = future_z(3600)
    single = cli("enqueue", "noop", "--queue", "daily-reports", "--at", text)
    job_id = single.stdout.strip()
    assert "\n" not in job_id and " " not in job_id  # stdout stays the bare id for JOB=$(jobctl ...)
    assert f"scheduled for {when.isoformat()}" in single.stderr and "(in " in single.stderr
    bulk = cli("enqueue", "noop", "--queue", "daily-reports", "--count", "3", "--in", "1h30m")
    assert bulk.stdout.startswith("scheduled 3 no-op jobs for 20")
    plain = cli("enqueue", "noop", "--queue", "daily-reports", "--count", "2")
    assert plain.stdout.startswith("enqueued 2 no-op jobs")
    assert "scheduled" not in cli("enqueue", "noop", "--queue", "daily-reports").stderr


def test_email_in_and_email_bulk_at(cli, settings, redis_client, recipients_csv):
    before = now_ts()
    one = cli.json(
        "enqueue", "email", "--to", "ann@example.com", *WELCOME, "--in", "1h30m", "--priority", "high"
    )
    assert before + 5400 <= datetime.fromisoformat(one["scheduled_for"]).timestamp() <= now_ts() + 5401
    detail = cli.json("job", "show", one["job_id"])
    assert detail["status"] == "scheduled" and detail["priority"] == "high"
    assert detail["description"] == "email welcome"
    text, when = future_z(86400)
    bulk = cli.json(
        "enqueue",
        "email-bulk",
        "--template",
        "welcome",
        "--recipients",
        str(recipients_csv),
        "--data",
        "login_url=https://x.example/login",
        "--at",
        text,
    )
    assert bulk["count"] == 30 and bulk["scheduled_for"] == when.isoformat()
    assert {scheduled_for(redis_client, i) for i in bulk["job_ids"][::7]} == {when}
    assert totals(redis_client, settings) == {"waiting": 0, "scheduled": 31}
    page = cli.json("queue", "show", "email-sending", "--state", "scheduled", "--limit", "100")
    assert page["total"] == 31
    assert page["jobs"][0]["id"] == one["job_id"]  # soonest first within a priority; high comes first anyway


BAD = [
    (("--in", "10"), "--in expects a duration like 90s"),
    (("--in", "soon"), "--in expects a duration"),
    (("--in", "0s"), "more than zero"),
    (("--in", "-5m"), "expects a duration"),
    (("--at", "2030-01-01T09:00:00"), "needs a timezone offset, e.g. 2026-12-01T09:00:00+03:00"),
    (("--at", "next tuesday"), "--at expects an ISO 8601 time"),
    (("--at", "2020-01-01T00:00:00Z"), "is in the past"),
    (("--at", "2030-01-01T00:00:00Z", "--in", "5m"), "cannot be combined"),
]


@pytest.mark.parametrize("args, needle", BAD)
@pytest.mark.parametrize("command", ["noop", "email", "email-bulk"])
def test_bad_times_exit_2_and_enqueue_nothing(
    cli, settings, redis_client, recipients_csv, command, args, needle
):
    base = {
        "noop": ("enqueue", "noop", "--queue", "daily-reports", "--count", "3"),
        "email": ("enqueue", "email", "--to", "ann@example.com", *WELCOME),
        "email-bulk": (
            "enqueue",
            "email-bulk",
            "--template",
            "welcome",
            "--recipients",
            str(recipients_csv),
            "--data",
            "login_url=https://x.example/login",
        ),
    }[command]
    result = cli(*base, *args, code=2)
    assert needle in result.stderr and "hint:" in result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 2  # one-line message, one-line hint
    error = cli.json(*base, *args, code=2)["error"]
    assert error["code"] == "usage" and needle in error["message"] and error["hint"]
    assert redis_client.keys(f"{Job.redis_job_namespace_prefix}*") == []
    assert totals(redis_client, settings) == {"waiting": 0, "scheduled": 0}


def test_python_api_at_and_delay(settings, redis_client):
    from jobctl import JobctlError, add_bulk_email_jobs, add_email_job

    data = {"name": "Ann", "login_url": "https://x.example"}
    before = now_ts()
    job_id = add_email_job("ann@example.com", "welcome", data, delay=timedelta(minutes=5))
    assert before + 300 <= scheduled_for(redis_client, job_id).timestamp() <= now_ts() + 301
    _text, when = future_z(3600)
    ids = add_bulk_email_jobs(
        ["a@example.com", "b@example.com"], "welcome", data, at=when.astimezone(timezone(timedelta(hours=-5)))
    )
    assert [scheduled_for(redis_client, i) for i in ids] == [when, when]
    assert totals(redis_client, settings) == {"waiting": 0, "scheduled": 3}
    with pytest.raises(JobctlError, match="needs a timezone offset"):
        add_email_job("ann@example.com", "welcome", data, at=datetime(2030, 1, 1, 9, 0))
    with pytest.raises(JobctlError, match="not both"):
        add_bulk_email_jobs(["a@example.com"], "welcome", data, at=when, delay=60)
    with pytest.raises(JobctlError, match="more than zero"):
        add_bulk_email_jobs(["a@example.com"], "welcome", data, delay=0)
    assert totals(redis_client, settings) == {"waiting": 0, "scheduled": 3}
