"""The schedule list shows the catalogue's defaults before any scheduler stored them, and removing
one (before or after seeding) keeps it out for good."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from jobctl.config import load_settings
from jobctl.core import audit, keyspace, schedules
from jobctl.errors import NotFound

NOW = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)  # a Monday
DEFAULT_NAMES = {
    "daily-reports",
    "weekly-reports",
    "analytics-hourly",
    "analytics-daily",
    "analytics-weekly",
    "analytics-monthly",
}


def rows(conn, settings) -> dict[str, dict]:
    return {r["name"]: r for r in schedules.list_schedules(conn, settings, now=NOW)}


def stored_names(conn) -> set[str]:
    return {k.decode() for k in conn.hkeys(keyspace.schedules())}


def test_a_fresh_server_lists_the_defaults_as_not_yet_seeded_and_stores_nothing(redis_client, settings):
    listed = rows(redis_client, settings)
    assert set(listed) == DEFAULT_NAMES
    assert list(listed) == sorted(listed)  # by name, like stored ones
    assert all(r["seeded"] is False and r["source"] == "default" for r in listed.values())
    daily, weekly = listed["daily-reports"], listed["weekly-reports"]
    assert (daily["cron"], daily["tz"], daily["job_type"]) == ("0 6 * * *", "UTC", "daily-report")
    assert daily["next_run_at"] == "2026-05-05T06:00:00+00:00"
    assert [r["utc"] for r in daily["next_runs"]] == [f"2026-05-0{d}T06:00:00+00:00" for d in (5, 6, 7)]
    assert weekly["next_runs"][0]["utc"] == "2026-05-11T08:00:00+00:00"  # NOW is Monday noon: next Monday
    assert listed["analytics-monthly"]["data"] == {"type": "monthly"}
    for row in listed.values():
        assert row["handler"] is True and row["overdue"] is False and row["paused"] is False
        assert row["created_at"] is None and row["last_run_at"] is None and row["last_job_status"] is None
    # listing is a read: nothing stored, nothing marked seeded, nothing due
    assert not redis_client.exists(
        keyspace.schedules(), keyspace.schedules_due(), f"{keyspace.schedules()}:seeded"
    )


def test_seeding_turns_the_pending_rows_into_the_stored_ones(redis_client, settings):
    before = rows(redis_client, settings)
    schedules.seed_defaults(redis_client, settings, now=NOW)
    after = rows(redis_client, settings)
    assert set(after) == DEFAULT_NAMES and all(r["seeded"] is True for r in after.values())
    for name, row in after.items():
        same = (
            "cron",
            "tz",
            "job_type",
            "data",
            "queue",
            "priority",
            "missed",
            "source",
            "next_run_at",
            "next_runs",
            "handler",
        )
        assert {k: row[k] for k in same} == {k: before[name][k] for k in same}
        assert row["created_at"] == "2026-05-04T12:00:00+00:00"


def test_a_stored_schedule_wins_over_the_default_of_the_same_name(redis_client, settings):
    schedules.add_schedule(redis_client, settings, "daily-reports", "0 9 * * *", job_type="noop", now=NOW)
    listed = schedules.list_schedules(redis_client, settings, now=NOW)
    assert [r["name"] for r in listed].count("daily-reports") == 1
    mine = rows(redis_client, settings)["daily-reports"]
    assert (mine["cron"], mine["source"], mine["seeded"]) == ("0 9 * * *", "cli", True)
    # removing it also retires the default: no scheduler brings the built-in one back
    assert schedules.remove_schedule(redis_client, "daily-reports", settings)["seeded"] is True
    assert "daily-reports" not in rows(redis_client, settings)
    schedules.seed_defaults(redis_client, settings, now=NOW)
    assert stored_names(redis_client) == DEFAULT_NAMES - {"daily-reports"}


def test_removing_a_seeded_default_keeps_it_out_of_the_list(redis_client, settings):
    schedules.seed_defaults(redis_client, settings, now=NOW)
    removed = schedules.remove_schedule(redis_client, "weekly-reports", settings)
    assert removed["name"] == "weekly-reports" and removed["seeded"] is True
    assert "weekly-reports" not in rows(redis_client, settings)
    assert schedules.seed_defaults(redis_client, settings, now=NOW) == []
    assert "weekly-reports" not in rows(redis_client, settings)
    with pytest.raises(NotFound):
        schedules.remove_schedule(redis_client, "weekly-reports", settings)


def test_a_default_removed_before_seeding_is_never_seeded_and_the_removal_is_audited(redis_client, settings):
    with audit.acting_as(audit.Actor("ann", "cli")):
        removed = schedules.remove_schedule(redis_client, "analytics-hourly", settings)
    assert (removed["name"], removed["seeded"], removed["cron"]) == ("analytics-hourly", False, "5 * * * *")
    assert "analytics-hourly" not in rows(redis_client, settings)
    assert stored_names(redis_client) == set()  # nothing stored by removing
    [entry] = audit.list_entries(redis_client, action="schedule.remove")
    assert (entry["actor"], entry["target"], entry["count"]) == ("ann", "analytics-hourly", 1)
    assert entry["outcome"] == "ok"
    assert entry["filters"] == {"not_yet_seeded": True}

    seeded = schedules.seed_defaults(redis_client, settings, now=NOW)
    assert set(seeded) == DEFAULT_NAMES - {"analytics-hourly"}
    assert set(rows(redis_client, settings)) == DEFAULT_NAMES - {"analytics-hourly"}
    with pytest.raises(NotFound):  # a second removal: nothing left to remove
        schedules.remove_schedule(redis_client, "analytics-hourly", settings)
    assert audit.list_entries(redis_client, action="schedule.remove")[0]["outcome"] == "failed"


def test_toml_schedules_are_listed_before_seeding_too(tmp_path, redis_client):
    (tmp_path / "jobctl.toml").write_text(
        '[schedules.berlin-noop]\ncron = "30 2 * * *"\ntz = "Europe/Berlin"\njob = "noop"\n'
        'data = { to = "ann@example.com" }\n'
        '[schedules.daily-reports]\ncron = "0 7 * * *"\njob = "noop"\n'
    )
    settings = load_settings()
    listed = rows(redis_client, settings)
    assert set(listed) == DEFAULT_NAMES | {"berlin-noop"}
    berlin = listed["berlin-noop"]
    assert (berlin["source"], berlin["seeded"]) == ("jobctl.toml", False)
    assert berlin["data"] == {"to": "a***@example.com"}  # shown redacted, like stored data
    assert berlin["next_runs"][0] == {
        "utc": "2026-05-05T00:30:00+00:00",
        "local": "2026-05-05T02:30:00+02:00",
    }
    assert listed["daily-reports"]["cron"] == "0 7 * * *"  # jobctl.toml wins over the built-in
    schedules.remove_schedule(redis_client, "berlin-noop", settings)
    schedules.seed_defaults(redis_client, settings, now=NOW)
    assert "berlin-noop" not in stored_names(redis_client)
    assert "berlin-noop" not in rows(redis_client, settings)


def test_listed_schedule_finds_stored_and_pending_ones(redis_client, settings):
    schedules.add_schedule(redis_client, settings, "nightly", "0 3 * * *", job_type="noop", now=NOW)
    assert schedules.listed_schedule(redis_client, settings, "nightly")["seeded"] is True
    pending = schedules.listed_schedule(redis_client, settings, "daily-reports")
    assert pending["seeded"] is False and pending["job_type"] == "daily-report"
    with pytest.raises(NotFound) as caught:
        schedules.listed_schedule(redis_client, settings, "ghost")
    assert caught.value.message == "no schedule 'ghost'"
    schedules.remove_schedule(redis_client, "daily-reports", settings)
    with pytest.raises(NotFound):
        schedules.listed_schedule(redis_client, settings, "daily-reports")


def test_an_unknown_name_removes_nothing_and_marks_nothing(redis_client, settings):
    with pytest.raises(NotFound):
        schedules.remove_schedule(redis_client, "ghost", settings)
    assert not redis_client.exists(f"{keyspace.schedules()}:seeded")
    assert set(rows(redis_client, settings)) == DEFAULT_NAMES
    json.dumps(schedules.list_schedules(redis_client, settings))  # what --json and HTTP print
