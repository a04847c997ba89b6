"""The audit log: every core mutation records who did what, from which face, with what outcome."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import redis

from jobctl.config import load_settings
from jobctl.core import audit, dlq, ops, schedules
from jobctl.core.bulk import enqueue, enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.worker import JobctlJob, JobctlWorker
from jobctl.errors import NotFound, UsageError
from tests.rq_plain import PlainWorker

Q = "analytics-aggregation"
ME = audit.Actor("ada", "http")


def one_attempt(tmp_path, **extra: str):
    (tmp_path / "jobctl.toml").write_text(f"[queues.{Q}]\nattempts = 1\n")
    for name, value in extra.items():
        (tmp_path / ".env").open("a").write(f"{name}={value}\n")
    return load_settings()


def failed(conn, settings, ids):
    enqueue_many(conn, settings, "fail", [{"message": "boom"}] * len(ids), queue=Q, job_ids=ids)
    PlainWorker(
        [rq_queue(conn, p) for p in queue_catalog(settings)[Q].physical_names],
        connection=conn,
        serializer=PayloadSerializer,
    ).work(burst=True)


def dead(conn, settings, ids):
    enqueue_many(conn, settings, "fail", [{"message": "boom"}] * len(ids), queue=Q, job_ids=ids)
    JobctlWorker(
        [rq_queue(conn, p) for p in queue_catalog(settings)[Q].physical_names],
        connection=conn,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)


def entries(conn, **filters):
    return [
        {k: e[k] for k in ("actor", "face", "action", "target", "filters", "count", "outcome", "error")}
        for e in audit.list_entries(conn, **filters)
        if e["action"] != "enqueue" or filters.get("action") == "enqueue"  # the jobs a test set up
    ]


def test_an_entry_has_every_field_and_the_jsonl_file_gets_the_same(redis_client, tmp_path):
    settings = one_attempt(tmp_path, JOBCTL_AUDIT_FILE=str(tmp_path / "logs" / "audit.jsonl"))
    before = time.time()
    with audit.acting_as(ME):
        ops.pause_queue(redis_client, settings, Q)
    [stored] = audit.list_entries(redis_client)
    assert {
        k: stored[k] for k in ("actor", "face", "action", "target", "filters", "count", "outcome", "error")
    } == {
        "actor": "ada",
        "face": "http",
        "action": "queue.pause",
        "target": Q,
        "filters": {},
        "count": 1,
        "outcome": "ok",
        "error": None,
    }
    moment = datetime.fromisoformat(stored["time"].replace("Z", "+00:00"))
    assert moment.tzinfo == UTC and before - 1 <= moment.timestamp() <= time.time() + 1
    lines = (tmp_path / "logs" / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [stored]


def test_the_actor_defaults_to_the_os_user_of_the_library_and_nests(redis_client, settings):
    assert audit.current_actor() == audit.Actor(audit.os_user(), "api")
    ops.pause_queue(redis_client, settings, Q)
    with audit.acting_as(ME):
        ops.resume_queue(redis_client, settings, Q)
        with audit.acting_as(audit.Actor("bob", "tui")):
            ops.pause_queue(redis_client, settings, Q)
        ops.pause_queue(redis_client, settings, Q)  # already paused: recorded, count 0
    assert audit.current_actor().face == "api"
    assert [(e["actor"], e["face"], e["action"], e["count"]) for e in entries(redis_client)] == [
        ("ada", "http", "queue.pause", 0),
        ("bob", "tui", "queue.pause", 1),
        ("ada", "http", "queue.resume", 1),
        (audit.os_user(), "api", "queue.pause", 1),
    ]


def test_clear_records_its_count_and_a_dry_run_records_nothing(redis_client, settings):
    enqueue_many(redis_client, settings, "noop", [{}] * 7, queue=Q)
    assert ops.clear_queue(redis_client, settings, Q, "waiting", dry_run=True)["total"] == 7
    assert entries(redis_client) == []
    ops.clear_queue(redis_client, settings, Q, "waiting", priority="low")  # the queue's default priority
    assert entries(redis_client) == [
        {
            "actor": audit.os_user(),
            "face": "api",
            "action": "queue.clear",
            "target": Q,
            "filters": {"state": "waiting", "priority": "low"},
            "count": 7,
            "outcome": "ok",
            "error": None,
        }
    ]


def test_refused_and_failed_changes_are_recorded_with_the_reason(redis_client, settings):
    with pytest.raises(NotFound):
        ops.clear_queue(redis_client, settings, "no-such-queue", "waiting")
    with pytest.raises(NotFound):
        schedules.remove_schedule(redis_client, "nope")
    got = entries(redis_client)
    assert [(e["action"], e["target"], e["outcome"]) for e in got] == [
        ("schedule.remove", "nope", "failed"),
        ("queue.clear", "no-such-queue", "failed"),
    ]
    assert "no schedule 'nope'" in got[0]["error"] and "unknown queue" in got[1]["error"]


def test_bulk_retry_and_delete_say_partial_or_failed(redis_client, tmp_path):
    settings = one_attempt(tmp_path)
    failed(redis_client, settings, ["f-1", "f-2"])
    with audit.acting_as(ME):
        ops.retry_failed(redis_client, settings, ["f-1", "missing-1"])
        ops.retry_failed(redis_client, settings, ["missing-2"])
        ops.delete_jobs(redis_client, settings, ["f-1", "f-2"])
    got = entries(redis_client)
    assert [(e["action"], e["target"], e["count"], e["outcome"], e["error"]) for e in got] == [
        ("job.delete", "f-1, f-2", 2, "ok", None),
        ("job.retry", "missing-2", 0, "failed", "1 not done"),
        ("job.retry", "f-1, missing-1", 1, "partial", "1 not done"),
    ]


def test_a_long_id_list_names_the_first_ten(redis_client, settings):
    ids = [f"gone-{i}" for i in range(25)]
    ops.delete_jobs(redis_client, settings, ids)
    [got] = entries(redis_client)
    assert got["target"] == ", ".join(ids[:10]) + " (+15 more)" and got["outcome"] == "failed"


def test_cancel_replay_and_purge_are_recorded(redis_client, tmp_path):
    settings = one_attempt(tmp_path)
    dead(redis_client, settings, ["d-1", "d-2", "d-3"])
    job_id = enqueue(redis_client, settings, "noop", {}, queue=Q)
    with audit.acting_as(ME):
        ops.cancel_job(redis_client, settings, job_id)
        dlq.replay(redis_client, settings, ["d-1"])
        assert dlq.replay(redis_client, settings, everything=True, queue=Q, dry_run=True)["would_replay"]
        dlq.purge(redis_client, settings, everything=True, queue=Q)
    got = entries(redis_client)
    assert [(e["action"], e["target"], e["filters"], e["count"], e["outcome"]) for e in got] == [
        ("dlq.purge", "dead-letter queue", {"all": True, "queue": Q}, 2, "ok"),
        ("dlq.replay", "d-1", {}, 1, "ok"),
        ("job.cancel", job_id, {}, 1, "ok"),
    ]
    assert dlq.read_entry(redis_client, "d-1")["replays"][0]["by"] == "ada (http)"


def test_schedule_changes_are_recorded(redis_client, settings):
    with audit.acting_as(ME):
        schedules.add_schedule(redis_client, settings, "nightly", "0 3 * * *", job_type="noop")
        schedules.pause_schedule(redis_client, "nightly")
        schedules.resume_schedule(redis_client, "nightly")
        job_id = schedules.run_now(redis_client, settings, "nightly")
        schedules.remove_schedule(redis_client, "nightly")
    got = entries(redis_client)
    assert [(e["action"], e["target"], e["count"], e["outcome"]) for e in got] == [
        ("schedule.remove", "nightly", 1, "ok"),
        ("schedule.run", "nightly", 1, "ok"),
        ("schedule.resume", "nightly", 1, "ok"),
        ("schedule.pause", "nightly", 1, "ok"),
        ("schedule.add", "nightly", 1, "ok"),
    ]
    assert got[1]["filters"] == {"job_id": job_id}
    assert got[4]["filters"] == {"cron": "0 3 * * *", "tz": "UTC", "job_type": "noop"}
    # the job the schedule queued is an enqueue of its own, by the same actor
    [queued] = entries(redis_client, action="enqueue")
    assert (queued["actor"], queued["target"], queued["filters"]["type"]) == (ME.name, job_id, "noop")


def test_the_stream_is_bounded(redis_client, tmp_path):
    settings = one_attempt(tmp_path, JOBCTL_AUDIT_MAX_ENTRIES="100")
    for _ in range(1000):
        audit.record(redis_client, settings, audit.Entry("queue.pause", Q))
    length = redis_client.xlen(audit.stream_key())
    # MAXLEN ~ trims whole stream nodes (100 entries each by default): never below the bound, near it
    assert 100 <= length < 300


def test_filters_and_paging_past_one_read(redis_client, settings):
    for i in range(audit.PAGE + 30):
        with audit.acting_as(audit.Actor("bob" if i % 50 == 0 else "ada", "cli")):
            audit.record(redis_client, settings, audit.Entry("job.retry", f"j-{i}"))
    bobs = audit.list_entries(redis_client, actor="bob", limit=1000)
    assert [e["target"] for e in bobs] == [f"j-{i}" for i in range(audit.PAGE + 30) if i % 50 == 0][::-1]
    assert len(audit.list_entries(redis_client, limit=1000)) == audit.PAGE + 30
    assert len(audit.list_entries(redis_client, limit=7)) == 7
    assert audit.list_entries(redis_client, face="tui") == []
    assert audit.list_entries(redis_client, since=time.time() + 60) == []
    assert len(audit.list_entries(redis_client, since=time.time() - 60, limit=10_000)) == audit.PAGE + 30


def test_parse_since():
    now = 1_800_000_000.0
    assert audit.parse_since("15m", now) == now - 900
    assert audit.parse_since("2026-11-29T06:00Z") == datetime(2026, 11, 29, 6, tzinfo=UTC).timestamp()
    assert audit.parse_since("2026-11-29T06:00") == datetime(2026, 11, 29, 6, tzinfo=UTC).timestamp()
    assert audit.parse_since(None) is None
    assert audit.parse_since("1h30m", now) == now - 5400  # the one duration grammar (jobctl.durations)
    with pytest.raises(
        UsageError, match=r"--since expects a duration like 90s.* or an ISO time, got 'yesterday'"
    ):
        audit.parse_since("yesterday")


def test_an_unwritable_file_is_logged_and_the_change_still_happens(redis_client, tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    settings = one_attempt(tmp_path, JOBCTL_AUDIT_FILE=str(blocker / "audit.jsonl"))
    ops.pause_queue(redis_client, settings, Q)
    assert Q in ops.paused_queues(redis_client)
    assert [e["action"] for e in entries(redis_client)] == ["queue.pause"]
    assert "could not append to the audit file" in caplog.text


def test_filters_and_errors_are_stored_redacted(redis_client, settings):
    with pytest.raises(UsageError):
        dlq.purge(redis_client, settings, ["x"], everything=True, error_contains="ada.lovelace@example.com")
    [got] = entries(redis_client)
    assert (
        got["filters"] == {"all": True, "error_contains": "a***@example.com"} and got["outcome"] == "failed"
    )
    audit.record(
        redis_client,
        settings,
        audit.Entry("job.retry", "j", outcome="failed", error="refused for ada.lovelace@example.com"),
    )
    assert audit.list_entries(redis_client, limit=1)[0]["error"] == "refused for a***@example.com"
    assert b"lovelace" not in b"".join(
        v for _, f in redis_client.xrange(audit.stream_key()) for v in f.values()
    )


def test_before_pages_older_entries_and_bad_ids_are_usage_errors(redis_client, settings):
    for _ in range(3):
        ops.pause_queue(redis_client, settings, "email-sending")
        ops.resume_queue(redis_client, settings, "email-sending")
    everything = audit.list_entries(redis_client)
    assert len(everything) == 6
    assert audit.list_entries(redis_client, limit=2, before=everything[1]["id"]) == everything[2:4]
    assert audit.list_entries(redis_client, action="queue.pause", before=everything[0]["id"]) == [
        e for e in everything[1:] if e["action"] == "queue.pause"
    ]
    assert audit.list_entries(redis_client, before="0-0") == []
    for bad in ("abc", "1-2-3", f"{2**64}-0"):
        with pytest.raises(UsageError, match="not an audit entry id"):
            audit.list_entries(redis_client, before=bad)
    # a time before 1970 is every entry, not an id Redis refuses
    assert audit.list_entries(redis_client, since=audit.parse_since("0001-01-01T00:00Z")) == everything
    with pytest.raises(UsageError, match=r"^since expects"):
        audit.parse_since("forever", name="since")


# --- enqueue entries, retention by age, size --------------------------------------------------------


def _enqueue_entry(conn, settings, job_type, target="j-1", count=1, **extra):
    filters = {"type": job_type, "queue": "email-sending", "priority": "normal", **extra}
    return audit.record(conn, settings, audit.Entry("enqueue", target, filters=filters, count=count))


def test_enqueue_entries_filter_by_job_type(redis_client, settings):
    _enqueue_entry(redis_client, settings, "email", "e-1")
    _enqueue_entry(redis_client, settings, "file", "f-1")
    _enqueue_entry(redis_client, settings, "email", "e-2 .. e-9", count=8, digest="ab" * 32)
    # a schedule names its job type under another key: not an entry for --type
    audit.record(redis_client, settings, audit.Entry("schedule.add", "n", filters={"job_type": "email"}))
    audit.record(redis_client, settings, audit.Entry("job.retry", "x", filters={"type": "email"}))
    ops.pause_queue(redis_client, settings, "email-sending")  # no filters at all

    emails = audit.list_entries(redis_client, action="enqueue", job_type="email")
    assert [(e["target"], e["count"]) for e in emails] == [("e-2 .. e-9", 8), ("e-1", 1)]
    assert emails[0]["filters"] == {
        "type": "email",
        "queue": "email-sending",
        "priority": "normal",
        "digest": "ab" * 32,
    }
    assert [e["action"] for e in audit.list_entries(redis_client, job_type="email")] == [
        "job.retry",
        "enqueue",
        "enqueue",
    ]
    assert [e["target"] for e in audit.list_entries(redis_client, job_type="file")] == ["f-1"]
    assert audit.list_entries(redis_client, action="enqueue", job_type="sleep") == []
    assert len(audit.list_entries(redis_client, action="enqueue")) == 3


def _old_entries(conn, first_ms, count, step_ms=1):
    """Entries as record writes them, with explicit ids `first_ms`, `first_ms + step_ms`, ..."""
    for i in range(count):
        fields = {
            "time": "",
            "actor": "ada",
            "face": "cli",
            "action": "queue.pause",
            "target": f"old-{i}",
            "filters": "{}",
            "count": "1",
            "outcome": "ok",
            "error": "",
        }
        conn.xadd(audit.stream_key(), fields, id=f"{first_ms + i * step_ms}-0")


def test_entries_older_than_the_max_age_are_trimmed_when_one_is_recorded(redis_client, tmp_path, monkeypatch):
    settings = one_attempt(tmp_path, JOBCTL_AUDIT_MAX_AGE="30d", JOBCTL_AUDIT_MAX_ENTRIES="100")
    now_ms = int(time.time() * 1000)
    day = 86_400_000
    _old_entries(redis_client, now_ms - 100 * day, 250)  # past the age: in whole nodes and a part one
    _old_entries(redis_client, now_ms - 10 * day, 5, step_ms=day)  # 10..6 days old: kept
    monkeypatch.setitem(audit._age_trim, "last", 0.0)  # this process has not trimmed yet
    audit.record(redis_client, settings, audit.Entry("queue.resume", "new"))
    kept = audit.list_entries(redis_client, limit=1000)
    assert [e["target"] for e in kept] == ["new", *(f"old-{i}" for i in range(4, -1, -1))]

    # at most once a minute per process: a shorter age is applied only when the next trim is due
    monkeypatch.setenv("JOBCTL_AUDIT_MAX_AGE", "8d")  # the environment beats the .env file
    shorter = load_settings()
    assert shorter.audit_max_age == 8 * 86400
    audit.record(redis_client, shorter, audit.Entry("queue.resume", "newer"))
    assert redis_client.xlen(audit.stream_key()) == 7
    monkeypatch.setitem(audit._age_trim, "last", time.monotonic() - audit.AGE_TRIM_EVERY - 1)
    audit.record(redis_client, shorter, audit.Entry("queue.resume", "newest"))
    targets = [e["target"] for e in audit.list_entries(redis_client, limit=1000)]
    assert targets == ["newest", "newer", "new", "old-4", "old-3"]  # 7 and 6 days old stay

    # and the count bound still holds with the age trim in the same round trip
    monkeypatch.setitem(audit._age_trim, "last", 0.0)
    for _ in range(1000):
        audit.record(redis_client, settings, audit.Entry("queue.pause", Q))
    assert 100 <= redis_client.xlen(audit.stream_key()) < 300


def test_a_max_age_of_0_never_trims_by_age(redis_client, tmp_path, monkeypatch):
    settings = one_attempt(tmp_path, JOBCTL_AUDIT_MAX_AGE="0")
    _old_entries(redis_client, int(time.time() * 1000) - 400 * 86_400_000, 3)
    monkeypatch.setitem(audit._age_trim, "last", 0.0)
    audit.record(redis_client, settings, audit.Entry("queue.resume", "new"))
    assert redis_client.xlen(audit.stream_key()) == 4


def test_the_log_size_counts_entries_bytes_and_the_oldest(redis_client, settings):
    assert audit.log_size(redis_client) == {"entries": 0, "bytes": None, "oldest": None}
    first = _enqueue_entry(redis_client, settings, "email")
    small = audit.log_size(redis_client)
    for _ in range(999):
        _enqueue_entry(redis_client, settings, "email")
    big = audit.log_size(redis_client)
    assert small["entries"] == 1 and big["entries"] == 1000 == redis_client.xlen(audit.stream_key())
    assert 0 < small["bytes"] < big["bytes"]
    millis = int(first["id"].split("-")[0])
    assert small["oldest"] == big["oldest"] == audit._utc_iso(millis / 1000)


def test_a_server_refusing_memory_usage_still_gives_the_count():
    # the replies of add_size_reads as a pipeline with raise_on_error=False returns them
    refused = redis.ResponseError("unknown command 'MEMORY'")
    got = audit.size_of([3, refused, [(b"1764400000000-0", {b"action": b"enqueue"})]])
    assert got == {"entries": 3, "bytes": None, "oldest": "2025-11-29T07:06:40.000Z"}
    with pytest.raises(redis.ResponseError):
        audit.size_of([redis.ResponseError("WRONGTYPE"), 10, []])
