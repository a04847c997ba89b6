"""Delayed jobs: `at=`/`delay=` put jobs in RQ's scheduled registry, validated before Redis."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
import redis
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from jobctl.core.browse import job_detail, queue_jobs
from jobctl.core.bulk import enqueue, enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import parse_when, scheduled_for, scheduled_time
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.stats import queue_key, queue_stats
from jobctl.errors import UsageError

NOW = datetime(2026, 12, 1, 6, 0, 0, tzinfo=UTC)


@pytest.fixture
def conn(settings, redis_client):
    return redis_client


def future(seconds: float = 3600) -> datetime:
    """A whole-second aware UTC time `seconds` from now."""
    return datetime.fromtimestamp(math.ceil(datetime.now(UTC).timestamp() + seconds), UTC)


def registry(conn, physical: str) -> ScheduledJobRegistry:
    return ScheduledJobRegistry(physical, connection=conn, serializer=PayloadSerializer)


def fetch(conn, job_id: str) -> Job:
    return Job.fetch(job_id, connection=conn, serializer=PayloadSerializer)


def totals(conn, settings, queue: str) -> dict:
    return queue_stats(conn, settings, queue)["queues"][0]["totals"]


def all_job_keys(conn) -> list:
    return conn.keys(f"{Job.redis_job_namespace_prefix}*")


def test_at_lands_in_the_scheduled_registry_with_its_score(conn, settings):
    at = future(3600).astimezone(timezone(timedelta(hours=3)))  # any offset; stored as UTC
    job_id = enqueue(conn, settings, "noop", {"n": 1}, queue="file-processing", at=at)
    reg = registry(conn, "file-processing:high")
    assert reg.get_job_ids() == [job_id]
    assert conn.zscore(reg.key, job_id) == at.timestamp()
    assert reg.get_scheduled_time(job_id) == at.astimezone(UTC)
    assert scheduled_for(conn, job_id) == at.astimezone(UTC)
    job = fetch(conn, job_id)
    assert job.get_status() == "scheduled"
    assert conn.llen(queue_key("file-processing:high")) == 0
    assert totals(conn, settings, "file-processing")["waiting"] == 0


def test_delayed_job_has_the_same_json_meta_retry_and_description(conn, settings):
    job_id = enqueue(
        conn, settings, "noop", {"n": 1}, queue="file-processing", delay=60, description="nightly noop"
    )
    raw = conn.hget(f"{Job.redis_job_namespace_prefix}{job_id}", "data")
    func, _instance, args, _kwargs = json.loads(raw)  # JSON, not pickle, like immediate jobs
    assert func == "jobctl.jobs.noop.noop" and args == [{"n": 1}]
    job = fetch(conn, job_id)
    assert job.origin == "file-processing:high"
    assert job.description == "nightly noop"
    assert job.meta == {"type": "noop", "queue": "file-processing", "priority": "high"}
    assert job.retries_left == 2 and job.retry_intervals == [10, 20]
    assert job.timeout == queue_catalog(settings)["file-processing"].timeout


@pytest.mark.parametrize("delay", [90, 90.0, timedelta(seconds=90)])
def test_delay_counts_from_now_and_never_rounds_down(conn, settings, delay):
    before = datetime.now(UTC).timestamp()
    job_id = enqueue(conn, settings, "noop", {}, queue="daily-reports", delay=delay)
    after = datetime.now(UTC).timestamp()
    score = conn.zscore(registry(conn, fetch(conn, job_id).origin).key, job_id)
    assert score == int(score)  # RQ scores in whole seconds...
    assert before + 90 <= score <= math.ceil(after + 90)  # ...so the time is rounded up, never early


def test_sub_second_at_is_rounded_up(conn, settings):
    at = future(600) + timedelta(milliseconds=300)
    job_id = enqueue(conn, settings, "noop", {}, queue="daily-reports", at=at)
    assert scheduled_for(conn, job_id).timestamp() == math.ceil(at.timestamp())


def test_enqueue_many_schedules_in_atomic_batches(conn, settings, monkeypatch):
    from jobctl.core import bulk as mod

    monkeypatch.setattr(mod, "BATCH_MAX", 100)
    executes = []
    original = redis.client.Pipeline.execute

    def counting_execute(self, *args, **kwargs):
        executes.append(len(self.command_stack))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counting_execute)
    direct = []
    original_command = redis.Redis.execute_command
    monkeypatch.setattr(
        redis.Redis,
        "execute_command",
        lambda self, *a, **k: direct.append(a[0]) or original_command(self, *a, **k),
    )
    at = future(7200)
    seen = []
    ids = enqueue_many(
        conn,
        settings,
        "noop",
        ({"i": i} for i in range(250)),
        queue="daily-reports",
        priority="low",
        at=at,
        on_progress=lambda *call: seen.append(call),
    )
    assert [call for call in seen if call[2] == "enqueueing"] == [
        (n, 250, "enqueueing") for n in (0, 100, 200, 250)
    ]
    assert seen[0][0::2] == (0, "validating")  # the payloads are checked and spooled first
    # one script call per batch (the same one that queues jobs now), nothing else
    assert executes == [] and [c for c in direct if c != "SCRIPT LOAD"] == ["EVALSHA"] * 3
    assert len(ids) == len(set(ids)) == 250
    reg = registry(conn, "daily-reports:low")
    assert reg.count == 250
    assert {conn.zscore(reg.key, i) for i in ids} == {at.timestamp()}
    monkeypatch.undo()
    jobs = Job.fetch_many(ids, connection=conn, serializer=PayloadSerializer)
    assert [j.args[0]["i"] for j in jobs] == list(range(250))  # ids come back in payload order
    assert {j.get_status(refresh=False) for j in jobs} == {"scheduled"}


def test_explicit_job_ids_can_be_scheduled(conn, settings):
    ids = enqueue_many(
        conn,
        settings,
        "noop",
        [{}, {}],
        queue="daily-reports",
        job_ids=["rep-1", "rep-2"],
        delay=timedelta(minutes=5),
    )
    assert ids == ["rep-1", "rep-2"]
    assert set(registry(conn, fetch(conn, "rep-1").origin).get_job_ids()) == {"rep-1", "rep-2"}
    with pytest.raises(UsageError, match="more than once"):
        enqueue_many(conn, settings, "noop", [{}, {}], queue="daily-reports", job_ids=["x", "x"], delay=5)


def test_stats_and_queue_show_count_scheduled_jobs(conn, settings):
    later = enqueue(conn, settings, "noop", {}, queue="email-sending", priority="low", at=future(7200))
    soon = enqueue_many(conn, settings, "noop", [{}] * 3, queue="email-sending", delay=600)
    now_id = enqueue(conn, settings, "noop", {}, queue="email-sending")
    q = queue_stats(conn, settings, "email-sending")["queues"][0]
    assert q["totals"]["scheduled"] == 4 and q["totals"]["waiting"] == 1
    assert q["priorities"]["low"]["scheduled"] == 1 and q["priorities"]["normal"]["scheduled"] == 3
    page = queue_jobs(conn, settings, "email-sending", "scheduled")
    assert page["total"] == 4
    assert {j["id"] for j in page["jobs"]} == {later, *soon}
    assert {j["status"] for j in page["jobs"]} == {"scheduled"}
    assert now_id not in {j["id"] for j in page["jobs"]}
    assert job_detail(conn, settings, later)["status"] == "scheduled"


def test_a_moment_ago_is_accepted(conn, settings):
    """Within a few seconds of the past is clock skew, not a mistake: the job is due at once."""
    job_id = enqueue(
        conn,
        settings,
        "noop",
        {},
        queue="daily-reports",
        at=datetime.now(UTC) - timedelta(seconds=2),
    )
    assert fetch(conn, job_id).get_status() == "scheduled"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"at": datetime(2030, 1, 1, 9, 0)}, "needs a timezone offset, e.g. 2026-12-01T09:00:00\\+03:00"),
        ({"at": datetime(2020, 1, 1, tzinfo=UTC)}, "in the past"),
        ({"at": "2030-01-01T00:00:00Z"}, "must be a datetime"),
        ({"delay": 0}, "more than zero"),
        ({"delay": -5}, "more than zero"),
        ({"delay": timedelta(seconds=-1)}, "more than zero"),
        ({"delay": True}, "number of seconds"),
        ({"delay": "10m"}, "number of seconds"),
        ({"delay": float("nan")}, "out of range"),
        ({"delay": float("inf")}, "out of range"),
        ({"delay": 1e15}, "out of range|too far"),
        ({"at": datetime(2030, 1, 1, tzinfo=UTC), "delay": 5}, "not both"),
    ],
)
def test_bad_times_enqueue_nothing(conn, settings, kwargs, message):
    with pytest.raises(UsageError, match=message):
        enqueue(conn, settings, "noop", {}, queue="daily-reports", **kwargs)
    with pytest.raises(UsageError, match=message):
        enqueue_many(conn, settings, "noop", [{}] * 3, queue="daily-reports", **kwargs)
    assert all_job_keys(conn) == []
    assert totals(conn, settings, "daily-reports")["scheduled"] == 0


def test_no_time_is_an_immediate_enqueue(conn, settings):
    job_id = enqueue(conn, settings, "noop", {}, queue="daily-reports", at=None, delay=None)
    assert fetch(conn, job_id).get_status() == "queued"
    assert scheduled_for(conn, job_id) is None
    assert scheduled_time() is None


# --------------------------------------------------------------------------------------------
# parse_when: the CLI's --at / --in


@pytest.mark.parametrize(
    "at, in_, expected",
    [
        ("2026-12-01T09:00:00+03:00", None, NOW),
        ("2026-12-01T06:00:00Z", None, NOW),
        ("2026-12-01T06:00:00z", None, NOW),
        (" 2026-12-01 06:00:00+00:00 ", None, NOW),
        ("2026-12-01T07:30:00.250+01:00", None, NOW + timedelta(minutes=30, seconds=1)),  # rounded up
        ("2026-12-01T05:59:58Z", None, NOW - timedelta(seconds=2)),  # a moment ago: due at once
        (None, "90s", NOW + timedelta(seconds=90)),
        (None, "10m", NOW + timedelta(minutes=10)),
        (None, "2h", NOW + timedelta(hours=2)),
        (None, "1d", NOW + timedelta(days=1)),
        (None, "1h30m", NOW + timedelta(hours=1, minutes=30)),
        (None, "1d 2h 3m 4s", NOW + timedelta(days=1, hours=2, minutes=3, seconds=4)),
        (None, "1.5H", NOW + timedelta(hours=1, minutes=30)),
        (None, "0.2s", NOW + timedelta(seconds=1)),
        (None, None, None),
    ],
)
def test_parse_when(at, in_, expected):
    assert parse_when(at, in_, now=NOW) == expected
    if expected is not None:
        assert expected.tzinfo is not None and expected.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "at, in_, message",
    [
        (
            "2026-12-01T09:00:00",
            None,
            "--at 2026-12-01T09:00:00 needs a timezone offset, e.g. 2026-12-01T09:00:00\\+03:00",
        ),
        ("2026-12-01", None, "needs a timezone offset"),
        ("tomorrow", None, "--at expects an ISO 8601 time"),
        ("", None, "--at expects an ISO 8601 time"),
        ("2026-11-30T06:00:00Z", None, "in the past"),
        (None, "10", "--in expects a duration like 90s"),
        (None, "10 minutes", "--in expects a duration"),
        (None, "30m1h", "--in expects a duration"),
        (None, "-5m", "--in expects a duration"),
        (None, "", "--in expects a duration"),
        (None, "0s", "more than zero"),
        (None, "0h0m", "more than zero"),
        (None, "99999999999d", "out of range|too far"),
        ("2026-12-01T09:00:00Z", "5m", "cannot be combined"),
    ],
)
def test_parse_when_errors_are_one_line_with_a_hint(at, in_, message):
    with pytest.raises(UsageError, match=message) as info:
        parse_when(at, in_, now=NOW)
    assert "\n" not in info.value.message and info.value.hint
