"""jobctl schedule list|add|remove|run|pause|resume through the CLI."""

from __future__ import annotations

import json

from rq.job import Job

from jobctl.core import keyspace, schedules
from jobctl.core.payloads import PayloadSerializer


def stored(conn) -> dict:
    return {k.decode(): json.loads(v) for k, v in conn.hgetall(keyspace.schedules()).items()}


def test_add_list_run_pause_resume_remove(cli, redis_client):
    out = cli(
        "schedule",
        "add",
        "nightly",
        "--cron",
        "30 2 * * *",
        "--tz",
        "Europe/Berlin",
        "--job",
        "noop",
        "--data",
        "region=eu",
        "--data-json",
        '{"n": 1, "region": "us"}',
        "--priority",
        "low",
    ).stdout
    assert out.startswith("added nightly; next run ") and ("CET" in out or "CEST" in out)
    doc = stored(redis_client)["nightly"]
    assert doc["data"] == {"n": 1, "region": "eu"} and doc["priority"] == "low" and doc["source"] == "cli"

    added = cli.json("schedule", "add", "hourly", "--cron", "@hourly", "--job", "noop", "--missed", "skip")
    assert added["name"] == "hourly" and added["missed"] == "skip" and added["tz"] == "UTC"

    listing = [r for r in cli.json("schedule", "list")["schedules"] if r["seeded"]]  # not pending defaults
    assert [r["name"] for r in listing] == ["hourly", "nightly"]
    nightly = listing[1]
    assert len(nightly["next_runs"]) == 3 and nightly["handler"] is True and nightly["paused"] is False
    assert nightly["next_runs"][0]["local"].endswith(("+01:00", "+02:00"))

    job_id = cli("schedule", "run", "nightly").stdout.strip()
    assert job_id.startswith("sched-nightly-manual-")
    job = Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer)
    assert job.meta["schedule"] == "nightly" and job.args[0] == {"n": 1, "region": "eu"}
    assert cli.json("schedule", "run", "nightly")["job_id"].startswith("sched-nightly-manual-")

    table = cli("schedule", "list").stdout
    lines = table.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "nightly" in table and "Europe/Berlin" in table and "queued" in table and "30 2 * * *" in table

    assert cli("schedule", "pause", "nightly").stdout.strip() == "nightly: paused"
    assert cli("schedule", "pause", "nightly").stdout.strip() == "nightly: already paused"
    assert "paused" in cli("schedule", "list").stdout
    resumed = cli.json("schedule", "resume", "nightly")
    assert resumed["paused"] is False and resumed["changed"] is True
    assert cli("schedule", "resume", "nightly").stdout.startswith("nightly: already active; next ")

    assert cli("schedule", "remove", "nightly", "--yes").stdout.strip() == "removed nightly"
    assert cli.json("schedule", "remove", "hourly", "--yes")["removed"] == "hourly"
    assert stored(redis_client) == {}
    assert not any(r["seeded"] for r in cli.json("schedule", "list")["schedules"])


def test_remove_needs_yes_without_a_terminal(cli, redis_client):
    cli("schedule", "add", "keep", "--cron", "0 6 * * *", "--job", "noop")
    result = cli("schedule", "remove", "keep", code=2)
    assert "needs confirmation" in result.stderr and "--yes" in result.stderr
    assert cli.json("schedule", "remove", "keep", code=2)["error"]["code"] == "usage"
    assert "keep" in stored(redis_client)


def test_invalid_input_exits_2_and_stores_nothing(cli, redis_client):
    base = ["schedule", "add", "x", "--job", "noop"]
    err = cli(*base, "--cron", "* * * * * *", code=2).stderr
    assert err.startswith("jobctl: error: invalid cron expression")
    err = cli(*base, "--cron", "0 6 * * *", "--tz", "Mars/Base", code=2).stderr
    assert "unknown timezone 'Mars/Base'" in err and "Europe/Berlin" in err
    err = cli("schedule", "add", "x", "--cron", "0 6 * * *", "--job", "nope", code=2).stderr
    assert "unknown job type 'nope'" in err and "noop" in err
    assert cli(*base, "--cron", "0 6 * * *", "--data", "novalue", code=2).stderr.startswith("jobctl: error:")
    assert cli(*base, "--cron", "0 6 * * *", "--data-json", "[1]", code=2).stderr.startswith("jobctl: error:")
    assert cli(*base, "--cron", "0 6 * * *", "--missed", "all", code=2).stderr.startswith("jobctl: error:")
    data = cli.json("schedule", "add", "bad name", "--cron", "0 6 * * *", "--job", "noop", code=2)
    assert data["error"]["code"] == "usage" and "invalid schedule name" in data["error"]["message"]
    assert not redis_client.exists(keyspace.schedules(), keyspace.schedules_due())

    cli(*base, "--cron", "0 6 * * *")
    err = cli(*base, "--cron", "0 7 * * *", code=2).stderr
    assert "schedule 'x' exists" in err and "remove" in err
    assert stored(redis_client)["x"]["cron"] == "0 6 * * *"


def test_unknown_schedule_exits_4(cli):
    for verb in ("run", "pause", "resume"):
        assert cli("schedule", verb, "ghost", code=4).stderr == (
            "jobctl: error: no schedule 'ghost'\nhint: see jobctl schedule list\n"
        )
    assert cli("schedule", "remove", "ghost", "--yes", code=4).stderr.startswith("jobctl: error: no schedule")
    assert cli.json("schedule", "run", "ghost", code=4)["error"]["code"] == "not_found"


def test_defaults_without_a_handler_show_it_and_cannot_be_run(cli, redis_client, settings, monkeypatch):
    from jobctl.core.jobtypes import JOB_TYPES

    monkeypatch.delitem(JOB_TYPES, "daily-report")  # as before the report handlers existed
    schedules.seed_defaults(redis_client, settings)
    table = cli("schedule", "list").stdout
    assert table.count("no handler yet") == 1
    assert all(len(line) <= 80 for line in table.splitlines())
    rows = {r["name"]: r for r in cli.json("schedule", "list")["schedules"]}
    assert rows["daily-reports"]["handler"] is False and rows["daily-reports"]["source"] == "default"
    err = cli("schedule", "run", "daily-reports", code=2).stderr
    assert "no handler yet" in err
    out = cli("schedule", "remove", "daily-reports", "--yes").stdout
    assert "removed daily-reports" in out
    schedules.seed_defaults(redis_client, settings)
    assert "daily-reports" not in {r["name"] for r in cli.json("schedule", "list")["schedules"]}
