"""Recurring schedules: DST-correct occurrence math, storage, validation and idempotent ticks."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
from rq.job import Job

from jobctl.core import keyspace, schedules
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.runtime import load_settings
from jobctl.core.schedule_tables import toml_schedules
from jobctl.errors import ConfigError, NotFound, UsageError

NOW = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)  # a Monday


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local_times(runs, tz):
    zone = ZoneInfo(tz)
    return [r.astimezone(zone) for r in runs]


def stored(conn) -> dict:
    return {k.decode(): json.loads(v) for k, v in conn.hgetall(keyspace.schedules()).items()}


def due(conn) -> dict:
    return {k.decode(): v for k, v in conn.zrange(keyspace.schedules_due(), 0, -1, withscores=True)}


def waiting_ids(conn, settings, queue="email-sending") -> list[str]:
    return [j for p in queue_catalog(settings)[queue].physical_names for j in rq_queue(conn, p).job_ids]


# --------------------------------------------------------------------------------------------
# Occurrence math


@pytest.mark.parametrize("tz, day", [("America/New_York", 8), ("Europe/Berlin", 29)])
def test_spring_forward_daily_0230_runs_once_at_the_shifted_time(tz, day):
    runs = schedules.next_runs("30 2 * * *", tz, utc(2026, 3, day - 2), 5)
    local = local_times(runs, tz)
    on_the_day = [t for t in local if t.date() == datetime(2026, 3, day).date()]
    assert len(on_the_day) == 1
    assert (on_the_day[0].hour, on_the_day[0].minute) == (3, 30)  # 02:30 does not exist: runs at 03:30
    assert [(t.hour, t.minute) for t in local if t.day != day] == [(2, 30)] * 4
    assert all(b - a >= timedelta(hours=23) for a, b in itertools.pairwise(runs))


@pytest.mark.parametrize("tz, day, hour", [("America/New_York", 1, 1), ("Europe/Berlin", 25, 2)])
def test_fall_back_daily_runs_once_not_twice(tz, day, hour):
    month = 11 if day == 1 else 10
    runs = schedules.next_runs(f"30 {hour} * * *", tz, utc(2026, month, day) - timedelta(days=2), 5)
    local = local_times(runs, tz)
    on_the_day = [t for t in local if t.date() == datetime(2026, month, day).date()]
    assert len(on_the_day) == 1
    assert (on_the_day[0].hour, on_the_day[0].minute, on_the_day[0].fold) == (hour, 30, 0)  # the first one
    assert len(set(runs)) == 5


@pytest.mark.parametrize(
    "tz, start",
    [
        ("America/New_York", utc(2026, 3, 8, 3)),
        ("America/New_York", utc(2026, 11, 1, 2)),
        ("Europe/Berlin", utc(2026, 3, 28, 23)),
        ("Europe/Berlin", utc(2026, 10, 24, 22)),
    ],
)
def test_hourly_across_transitions_is_strictly_increasing_without_duplicates(tz, start):
    runs = schedules.next_runs("0 * * * *", tz, start, 8)
    assert all(a < b for a, b in itertools.pairwise(runs))
    assert len(set(runs)) == 8
    assert all(r.tzinfo == UTC and r.minute == 0 for r in runs)
    # every UTC hour is covered except where a repeated wall-clock hour is skipped (fall-back)
    gaps = [(b - a) for a, b in itertools.pairwise(runs)]
    assert set(gaps) <= {timedelta(hours=1), timedelta(hours=2)}
    assert gaps.count(timedelta(hours=2)) <= 1


def test_next_three_runs_utc_and_macros():
    assert schedules.next_runs("0 6 * * *", "UTC", utc(2026, 5, 4, 6), 3) == [
        utc(2026, 5, 5, 6),
        utc(2026, 5, 6, 6),
        utc(2026, 5, 7, 6),
    ]  # strictly after
    assert schedules.next_runs("@hourly", "UTC", utc(2026, 5, 4, 6, 1), 1) == [utc(2026, 5, 4, 7)]
    assert schedules.next_runs("0 8 * * 1", "Europe/Berlin", NOW, 2) == [
        utc(2026, 5, 11, 6),
        utc(2026, 5, 18, 6),
    ]
    assert schedules.latest_run("30 2 * * *", "America/New_York", utc(2026, 3, 8, 8)) == utc(
        2026, 3, 8, 7, 30
    )


def test_shifted_spring_forward_run_is_found_even_after_the_gap():
    # 03:10 EDT on the spring-forward day: the 02:30 run (shifted to 03:30) is still ahead
    assert schedules.next_runs("30 2 * * *", "America/New_York", utc(2026, 3, 8, 7, 10)) == [
        utc(2026, 3, 8, 7, 30)
    ]


# --------------------------------------------------------------------------------------------
# Storage and validation


def test_add_get_list_pause_resume_remove(redis_client, settings):
    doc = schedules.add_schedule(
        redis_client,
        settings,
        "nightly",
        "30 2 * * *",
        "Europe/Berlin",
        "noop",
        {"a": 1},
        priority="low",
        now=NOW,
    )
    assert doc["next_run_at"] == "2026-05-05T00:30:00+00:00"
    assert doc["source"] == "cli" and doc["missed"] == "once" and doc["paused"] is False
    assert schedules.get_schedule(redis_client, "nightly") == doc
    assert due(redis_client) == {"nightly": utc(2026, 5, 5, 0, 30).timestamp()}

    [row] = [r for r in schedules.list_schedules(redis_client, settings, now=NOW) if r["name"] == "nightly"]
    assert row["handler"] is True and row["last_job_status"] is None and row["overdue"] is False
    assert [r["utc"] for r in row["next_runs"]] == [
        "2026-05-05T00:30:00+00:00",
        "2026-05-06T00:30:00+00:00",
        "2026-05-07T00:30:00+00:00",
    ]
    assert row["next_runs"][0]["local"] == "2026-05-05T02:30:00+02:00"

    assert schedules.pause_schedule(redis_client, "nightly")["changed"] is True
    assert schedules.pause_schedule(redis_client, "nightly")["changed"] is False
    assert schedules.get_schedule(redis_client, "nightly")["paused"] is True
    later = utc(2026, 5, 9, 12)
    resumed = schedules.resume_schedule(redis_client, "nightly", now=later)
    assert resumed["paused"] is False and resumed["changed"] is True
    assert resumed["next_run_at"] == "2026-05-10T00:30:00+00:00"  # recomputed from now
    assert due(redis_client)["nightly"] == utc(2026, 5, 10, 0, 30).timestamp()

    removed = schedules.remove_schedule(redis_client, "nightly")
    assert removed["name"] == "nightly"
    assert stored(redis_client) == {} and due(redis_client) == {}
    for call in (
        schedules.remove_schedule,
        schedules.get_schedule,
        schedules.pause_schedule,
        schedules.resume_schedule,
    ):
        with pytest.raises(NotFound):
            call(redis_client, "nightly")


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"name": "bad name"}, "invalid schedule name"),
        ({"name": "x" * 65}, "invalid schedule name"),
        ({"cron": "not cron"}, "invalid cron"),
        ({"cron": "61 * * * *"}, "invalid cron"),
        ({"cron": "* * * * * *"}, "invalid cron"),  # seconds field
        ({"cron": "0 0 * * * 2026"}, "invalid cron"),  # year field
        ({"cron": "@reboot"}, "invalid cron"),
        ({"cron": "0 0 31 2 *"}, "never matches"),
        ({"tz": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'"),
        ({"tz": ""}, "unknown timezone"),
        ({"job_type": "monthly-report"}, "unknown job type"),
        ({"data": ["not", "an", "object"]}, "JSON object"),
        ({"data": {"when": datetime(2026, 1, 1)}}, "not JSON-serialisable"),
        ({"missed": "all"}, "invalid missed"),
        ({"priority": "urgent"}, "unknown priority"),
        ({"queue": "nope"}, "unknown queue"),
        ({"queue": "dead-letter"}, "dead-letter"),
    ],
)
def test_invalid_input_is_a_usage_error_and_stores_nothing(redis_client, settings, kwargs, needle):
    args = {"name": "ok", "cron": "0 6 * * *", "tz": "UTC", "job_type": "noop", **kwargs}
    with pytest.raises(UsageError) as err:
        schedules.add_schedule(redis_client, settings, now=NOW, **args)
    assert needle in err.value.message
    assert err.value.code == 2
    assert not redis_client.exists(keyspace.schedules(), keyspace.schedules_due())


def test_error_hints_list_choices(redis_client, settings):
    with pytest.raises(UsageError) as err:
        schedules.add_schedule(redis_client, settings, "x", "0 6 * * *", "Nowhere/City", "noop")
    assert "Europe/Berlin" in err.value.hint and "UTC" in err.value.hint
    with pytest.raises(UsageError) as err:
        schedules.add_schedule(redis_client, settings, "x", "0 6 * * *", "UTC", "nope")
    assert "noop" in err.value.hint and "email" in err.value.hint


def test_duplicate_name_is_a_usage_error_and_keeps_the_original(redis_client, settings):
    first = schedules.add_schedule(redis_client, settings, "dup", "0 6 * * *", job_type="noop", now=NOW)
    with pytest.raises(UsageError, match="schedule 'dup' exists") as err:
        schedules.add_schedule(redis_client, settings, "dup", "0 7 * * *", job_type="sleep", now=NOW)
    assert "remove" in err.value.hint
    assert stored(redis_client) == {"dup": first}


def test_macros_are_normalised(redis_client, settings):
    doc = schedules.add_schedule(redis_client, settings, "m", "  @Daily ", job_type="noop", now=NOW)
    assert doc["cron"] == "@daily" and doc["next_run_at"] == "2026-05-05T00:00:00+00:00"


# --------------------------------------------------------------------------------------------
# Firing


def test_tick_fires_once_per_occurrence_with_deterministic_id_and_payload(redis_client, settings):
    schedules.add_schedule(
        redis_client,
        settings,
        "every5",
        "*/5 * * * *",
        job_type="noop",
        data={"k": "v"},
        priority="high",
        now=NOW,
    )
    assert schedules.tick(redis_client, settings, NOW + timedelta(minutes=4)) == []
    at = NOW + timedelta(minutes=5, seconds=1)
    [fired] = schedules.tick(redis_client, settings, at)
    stamp = int(utc(2026, 5, 4, 12, 5).timestamp())
    assert fired["action"] == "fired" and fired["job_id"] == f"sched-every5-{stamp}"
    assert fired["missed"] is False and fired["next_run_at"] == "2026-05-04T12:10:00+00:00"
    assert schedules.tick(redis_client, settings, at) == []  # a second scheduler, same second
    assert waiting_ids(redis_client, settings) == [fired["job_id"]]
    job = Job.fetch(fired["job_id"], connection=redis_client, serializer=PayloadSerializer)
    assert job.args == [{"k": "v"}]  # the payload is the schedule's data; the run's facts are meta
    assert job.meta["schedule"] == "every5" and job.meta["occurrence"] == "2026-05-04T12:05:00+00:00"
    assert "manual" not in job.meta
    assert job.meta["priority"] == "high" and job.origin == "email-sending:high"
    doc = schedules.get_schedule(redis_client, "every5")
    assert doc["last_job_id"] == fired["job_id"] and doc["last_occurrence"] == "2026-05-04T12:05:00+00:00"
    assert doc["last_run_at"] == "2026-05-04T12:05:01+00:00"
    [row] = [r for r in schedules.list_schedules(redis_client, settings, now=at) if r["name"] == "every5"]
    assert row["last_job_status"] == "queued"
    job.delete()
    [row] = [r for r in schedules.list_schedules(redis_client, settings, now=at) if r["name"] == "every5"]
    assert row["last_job_status"] == "gone"


def test_guard_stops_a_refire_after_a_crash_before_advancing(redis_client, settings):
    schedules.add_schedule(redis_client, settings, "hourly", "0 * * * *", job_type="noop", now=NOW)
    before_doc = redis_client.hget(keyspace.schedules(), "hourly")
    before_due = redis_client.zscore(keyspace.schedules_due(), "hourly")
    at = utc(2026, 5, 4, 13, 0, 2)
    assert [r["action"] for r in schedules.tick(redis_client, settings, at)] == ["fired"]
    # the scheduler "crashed" after enqueueing and before saving: the occurrence is due again
    redis_client.hset(keyspace.schedules(), "hourly", before_doc)
    redis_client.zadd(keyspace.schedules_due(), {"hourly": before_due})
    [again] = schedules.tick(redis_client, settings, at)
    assert again["action"] == "duplicate" and again["job_id"] is None
    assert len(waiting_ids(redis_client, settings)) == 1
    assert due(redis_client)["hourly"] == utc(2026, 5, 4, 14).timestamp()


def test_two_schedulers_ticking_concurrently_enqueue_each_occurrence_once(redis_url, settings, redis_client):
    for n in range(5):
        schedules.add_schedule(redis_client, settings, f"s{n}", "0 * * * *", job_type="noop", now=NOW)
    at = utc(2026, 5, 4, 13, 0, 1)
    results: list = []

    def run():
        conn = redis.Redis.from_url(redis_url)
        try:
            results.extend(schedules.tick(conn, settings, at))
        finally:
            conn.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["name"] for r in results if r["action"] == "fired") == [f"s{n}" for n in range(5)]
    assert len(waiting_ids(redis_client, settings)) == 5
    assert set(due(redis_client).values()) == {utc(2026, 5, 4, 14).timestamp()}


def test_missed_once_after_three_days_enqueues_exactly_one_job(redis_client, settings):
    schedules.add_schedule(redis_client, settings, "hourly", "0 * * * *", job_type="noop", now=NOW)
    back = NOW + timedelta(days=3, minutes=20)  # down since before 13:00 on day 0
    [fired] = schedules.tick(redis_client, settings, back)
    assert fired["action"] == "fired" and fired["missed"] is True
    assert fired["occurrence"] == "2026-05-07T12:00:00+00:00"  # the most recent missed one
    assert fired["next_run_at"] == "2026-05-07T13:00:00+00:00"
    assert schedules.tick(redis_client, settings, back + timedelta(seconds=1)) == []
    assert waiting_ids(redis_client, settings) == [fired["job_id"]]


def test_missed_skip_after_three_days_enqueues_nothing_then_runs_on_time(redis_client, settings):
    schedules.add_schedule(
        redis_client, settings, "daily", "0 6 * * *", job_type="noop", missed="skip", now=NOW
    )
    back = NOW + timedelta(days=3)
    [skipped] = schedules.tick(redis_client, settings, back)
    assert skipped["action"] == "missed-skip" and skipped["job_id"] is None
    assert skipped["next_run_at"] == "2026-05-08T06:00:00+00:00"
    assert waiting_ids(redis_client, settings) == []
    assert [r["action"] for r in schedules.tick(redis_client, settings, utc(2026, 5, 8, 6, 0, 30))] == [
        "fired"
    ]
    assert len(waiting_ids(redis_client, settings)) == 1


def test_a_slightly_late_tick_is_not_a_missed_run(redis_client, settings):
    schedules.add_schedule(redis_client, settings, "d", "0 6 * * *", job_type="noop", missed="skip", now=NOW)
    [r] = schedules.tick(redis_client, settings, utc(2026, 5, 5, 6, 0, 45))
    assert r["action"] == "fired" and r["missed"] is False


def test_paused_schedules_advance_without_firing(redis_client, settings):
    schedules.add_schedule(redis_client, settings, "p", "0 * * * *", job_type="noop", now=NOW)
    schedules.pause_schedule(redis_client, "p")
    [r] = schedules.tick(redis_client, settings, utc(2026, 5, 4, 13, 0, 1))
    assert r["action"] == "paused"
    assert waiting_ids(redis_client, settings) == []
    assert due(redis_client)["p"] == utc(2026, 5, 4, 14).timestamp()


def test_spring_forward_tick_fires_the_shifted_run_once(redis_client, settings):
    schedules.add_schedule(
        redis_client, settings, "ny", "30 2 * * *", "America/New_York", "noop", now=utc(2026, 3, 7, 12)
    )
    fired = []
    moment = utc(2026, 3, 7, 12)
    while moment < utc(2026, 3, 9, 12):  # a tick every minute for two days
        fired += [r for r in schedules.tick(redis_client, settings, moment) if r["action"] == "fired"]
        moment += timedelta(minutes=1)
    assert [r["occurrence"] for r in fired] == ["2026-03-08T07:30:00+00:00", "2026-03-09T06:30:00+00:00"]


def test_run_now_enqueues_with_its_own_id(redis_client, settings):
    schedules.add_schedule(redis_client, settings, "r", "0 6 * * *", job_type="noop", data={"x": 1}, now=NOW)
    job_id = schedules.run_now(redis_client, settings, "r", now=NOW)
    assert job_id == f"sched-r-manual-{int(NOW.timestamp() * 1000)}"
    assert waiting_ids(redis_client, settings) == [job_id]
    job = Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer)
    assert job.args[0] == {"x": 1}
    assert (job.meta["schedule"], job.meta["occurrence"], job.meta["manual"]) == ("r", NOW.isoformat(), True)
    doc = schedules.get_schedule(redis_client, "r")
    assert doc["last_job_id"] == job_id and doc["next_run_at"] == "2026-05-05T06:00:00+00:00"
    with pytest.raises(NotFound):
        schedules.run_now(redis_client, settings, "nope")


# --------------------------------------------------------------------------------------------
# Defaults and jobctl.toml


DEFAULT_NAMES = {
    "daily-reports",
    "weekly-reports",
    "analytics-hourly",
    "analytics-daily",
    "analytics-weekly",
    "analytics-monthly",
}


def test_defaults_are_seeded_idempotently_and_keep_admin_edits(redis_client, settings):
    assert set(schedules.seed_defaults(redis_client, settings, now=NOW)) == DEFAULT_NAMES
    docs = stored(redis_client)
    assert (
        docs["daily-reports"]["cron"] == "0 6 * * *" and docs["daily-reports"]["job_type"] == "daily-report"
    )
    assert docs["weekly-reports"]["cron"] == "0 8 * * 1"
    assert docs["analytics-monthly"]["data"] == {"type": "monthly"}
    assert {d["source"] for d in docs.values()} == {"default"}
    schedules.pause_schedule(redis_client, "daily-reports")
    schedules.remove_schedule(redis_client, "weekly-reports")
    schedules.add_schedule(redis_client, settings, "weekly-reports", "0 9 * * 1", job_type="noop", now=NOW)
    assert schedules.seed_defaults(redis_client, settings, now=NOW) == []
    again = stored(redis_client)
    assert again["daily-reports"]["paused"] is True
    assert again["weekly-reports"]["cron"] == "0 9 * * 1" and again["weekly-reports"]["source"] == "cli"
    rows = {r["name"]: r for r in schedules.list_schedules(redis_client, settings, now=NOW)}
    assert all(row["handler"] for row in rows.values())  # the report and analytics handlers exist
    schedules.remove_schedule(redis_client, "analytics-monthly")
    assert schedules.seed_defaults(redis_client, settings, now=NOW) == []  # a removed default stays removed
    assert "analytics-monthly" not in stored(redis_client)


def test_defaults_without_handlers_never_fire_but_a_noop_schedule_does(
    redis_client, settings, caplog, monkeypatch
):
    from jobctl.core.jobtypes import JOB_TYPES

    monkeypatch.delitem(JOB_TYPES, "analytics")  # as before the analytics handler existed
    schedules.seed_defaults(redis_client, settings, now=NOW)
    schedules.add_schedule(redis_client, settings, "smoke", "5 * * * *", job_type="noop", now=NOW)
    caplog.set_level("WARNING", logger="jobctl.schedules")
    actions: list = []
    for hour in range(3):
        actions += schedules.tick(redis_client, settings, utc(2026, 5, 4, 12 + hour, 5, 1))
    assert [r["name"] for r in actions if r["action"] == "fired"] == ["smoke"] * 3
    assert {r["name"] for r in actions if r["action"] == "no-handler"} == {"analytics-hourly"}
    assert waiting_ids(redis_client, settings) == [r["job_id"] for r in actions if r["action"] == "fired"]
    warnings = [r for r in caplog.records if "analytics-hourly" in r.getMessage()]
    assert len(warnings) <= 1  # logged once per schedule per process
    assert due(redis_client)["analytics-hourly"] == utc(2026, 5, 4, 15, 5).timestamp()


def test_toml_schedules_are_seeded_and_validated_at_load(tmp_path, redis_client):
    (tmp_path / "jobctl.toml").write_text(
        '[schedules.berlin-noop]\ncron = "30 2 * * *"\ntz = "Europe/Berlin"\njob = "noop"\n'
        'priority = "low"\nmissed = "skip"\ndata = { type = "nightly", n = 3 }\n'
        '[schedules.daily-reports]\ncron = "0 7 * * *"\njob = "noop"\n'
    )
    settings = load_settings()
    assert toml_schedules(settings)["berlin-noop"]["data"] == {"type": "nightly", "n": 3}
    schedules.seed_defaults(redis_client, settings, now=NOW)
    docs = stored(redis_client)
    assert docs["berlin-noop"]["source"] == "jobctl.toml" and docs["berlin-noop"]["missed"] == "skip"
    assert docs["daily-reports"]["cron"] == "0 7 * * *" and docs["daily-reports"]["source"] == "jobctl.toml"
    assert set(docs) >= DEFAULT_NAMES


@pytest.mark.parametrize(
    "toml, needle",
    [
        ('[schedules.x]\ncron = "bad"\njob = "noop"\n', "schedules.x.cron"),
        ('[schedules.x]\ncron = "0 6 * * *"\ntz = "Mars/Base"\njob = "noop"\n', "schedules.x.tz"),
        ('[schedules.x]\ncron = "0 6 * * *"\njob = "nope"\n', "schedules.x.job"),
        ('[schedules.x]\ncron = "0 6 * * *"\njob = "noop"\nmissed = "all"\n', "schedules.x.missed"),
        ('[schedules.x]\ncron = "0 6 * * *"\njob = "noop"\nqueue = "nope"\n', "schedules.x.queue"),
        ('[schedules.x]\ncron = "0 6 * * *"\njob = "noop"\ndata = "a=b"\n', "schedules.x.data"),
        ('[schedules.x]\ncron = "0 6 * * *"\njob = "noop"\ncolour = "red"\n', "schedules.x.colour"),
        ('[schedules.x]\njob = "noop"\n', "schedules.x.cron"),
        ('[schedules."bad name"]\ncron = "0 6 * * *"\njob = "noop"\n', "schedules.bad name"),
        ("schedules = 3\n", "schedules"),
    ],
)
def test_bad_toml_schedules_are_config_errors_naming_the_key(tmp_path, toml, needle):
    (tmp_path / "jobctl.toml").write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_settings(environ={}, cwd=tmp_path)
    assert needle in err.value.message and "jobctl.toml" in err.value.message
