"""`jobctl schedule list` and `remove` with the default schedules before and after a scheduler seeds them."""

from __future__ import annotations

from jobctl.core import audit, keyspace, schedules

DEFAULT_NAMES = {
    "daily-reports",
    "weekly-reports",
    "analytics-hourly",
    "analytics-daily",
    "analytics-weekly",
    "analytics-monthly",
}


def listing(cli) -> dict[str, dict]:
    return {r["name"]: r for r in cli.json("schedule", "list")["schedules"]}


def test_a_fresh_prefix_lists_the_defaults_not_yet_seeded_then_seeded(cli, redis_client, settings):
    rows = listing(cli)
    assert set(rows) == DEFAULT_NAMES and {r["seeded"] for r in rows.values()} == {False}
    assert rows["daily-reports"]["cron"] == "0 6 * * *" and rows["weekly-reports"]["cron"] == "0 8 * * 1"
    assert all(len(r["next_runs"]) == 3 for r in rows.values())
    table = cli("schedule", "list").stdout
    assert table.count("not yet seeded") == len(DEFAULT_NAMES) + 1  # one per row, and the summary line
    assert "6 default(s) not yet seeded: the first scheduler to start stores them" in table
    assert all(len(line) <= 80 for line in table.splitlines())
    assert not redis_client.exists(keyspace.schedules())

    schedules.seed_defaults(redis_client, settings)
    rows = listing(cli)
    assert set(rows) == DEFAULT_NAMES and {r["seeded"] for r in rows.values()} == {True}
    assert "not yet seeded" not in cli("schedule", "list").stdout


def test_removing_a_default_before_seeding_asks_then_keeps_it_out(cli, redis_client, settings):
    result = cli("schedule", "remove", "daily-reports", code=2)  # no terminal, no --yes: refused
    assert "needs confirmation" in result.stderr
    assert "daily-reports" in listing(cli)

    out = cli("schedule", "remove", "daily-reports", "--yes").stdout
    assert out.strip() == "removed daily-reports (a default not yet seeded: no scheduler will store it)"
    assert "daily-reports" not in listing(cli)
    schedules.seed_defaults(redis_client, settings)
    assert set(listing(cli)) == DEFAULT_NAMES - {"daily-reports"}
    assert not redis_client.hexists(keyspace.schedules(), "daily-reports")
    [entry] = audit.list_entries(redis_client, action="schedule.remove", limit=1)
    assert (entry["face"], entry["target"], entry["outcome"]) == ("cli", "daily-reports", "ok")

    gone = cli.json("schedule", "remove", "daily-reports", "--yes", code=4)
    assert gone["error"]["code"] == "not_found"
    removed = cli.json("schedule", "remove", "weekly-reports", "--yes")
    assert removed["removed"] == "weekly-reports" and removed["schedule"]["seeded"] is True


def test_with_every_default_removed_the_list_says_there_are_none(cli):
    for name in sorted(DEFAULT_NAMES):
        assert cli.json("schedule", "remove", name, "--yes")["schedule"]["seeded"] is False
    assert cli.json("schedule", "list") == {"schedules": []}
    assert "no schedules" in cli("schedule", "list").stdout


def test_run_pause_resume_of_a_default_not_yet_seeded_say_so(cli, redis_client, settings):
    for verb in ("run", "pause", "resume"):
        assert cli("schedule", verb, "daily-reports", code=4).stderr == (
            "jobctl: error: schedule 'daily-reports' is not yet seeded\n"
            "hint: the first scheduler to start stores it: jobctl scheduler start\n"
        )
    assert not redis_client.exists(keyspace.schedules())
    schedules.seed_defaults(redis_client, settings)
    assert cli("schedule", "pause", "daily-reports").stdout.strip() == "daily-reports: paused"
