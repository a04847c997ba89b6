from __future__ import annotations

import json
from datetime import datetime

import pytest
from rq.job import Job

from jobctl.core import audit
from jobctl.core.browse import job_detail, queue_jobs
from jobctl.core.bulk import enqueue, enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.stats import STATES, queue_stats
from jobctl.errors import NotFound, UsageError
from tests.redis_commands import commands_sent


@pytest.fixture
def conn(settings, redis_client):
    return redis_client


def counts(stats, queue):
    return next(q for q in stats["queues"] if q["queue"] == queue)


def test_enqueue_stores_json_not_pickle(conn, settings):
    job_id = enqueue(conn, settings, "noop", {"n": 1}, queue="file-processing")
    raw = conn.hget(f"{Job.redis_job_namespace_prefix}{job_id}", "data")
    # plain JSON (small data is not zlib-compressed: RQ reads both), not pickle
    func, _instance, args, _kwargs = json.loads(raw)
    assert func == "jobctl.jobs.noop.noop" and args == [{"n": 1}]
    job = Job.fetch(job_id, connection=conn, serializer=PayloadSerializer)
    assert job.args == [{"n": 1}]
    assert job.origin == "file-processing:high"  # the queue's default priority
    assert job.description == "noop"
    assert job.meta == {"type": "noop", "queue": "file-processing", "priority": "high"}
    assert job.retries_left == 2 and job.retry_intervals == [10, 20]


def test_priority_routes_to_its_physical_queue(conn, settings):
    enqueue(conn, settings, "noop", {}, queue="email-sending", priority="high")
    enqueue_many(conn, settings, "noop", [{}] * 3, queue="email-sending", priority="low")
    q = counts(queue_stats(conn, settings), "email-sending")
    assert q["priorities"]["high"]["waiting"] == 1
    assert q["priorities"]["low"]["waiting"] == 3
    assert q["priorities"]["normal"]["waiting"] == 0
    assert q["totals"]["waiting"] == 4


def test_bulk_enqueue_in_batches_reports_progress(conn, settings, monkeypatch):
    from jobctl.core import bulk as mod

    monkeypatch.setattr(mod, "BATCH_MAX", 100)
    seen = []
    ids = enqueue_many(
        conn,
        settings,
        "noop",
        ({"i": i} for i in range(250)),
        queue="daily-reports",
        on_progress=lambda *call: seen.append(call),
    )
    assert len(ids) == len(set(ids)) == 250
    assert [call for call in seen if call[2] == "enqueueing"] == [
        (n, 250, "enqueueing") for n in (0, 100, 200, 250)
    ]
    assert seen[0][0::2] == (0, "validating")  # the payloads are checked and spooled first
    assert counts(queue_stats(conn, settings), "daily-reports")["totals"]["waiting"] == 250


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"queue": "nope"}, "unknown queue"),
        ({"queue": "dead-letter"}, "dead-letter"),
        ({"priority": "urgent"}, "unknown priority"),
    ],
)
def test_bad_targets_enqueue_nothing(conn, settings, kwargs, message):
    with pytest.raises((UsageError, NotFound), match=message):
        enqueue(conn, settings, "noop", {}, **kwargs)
    assert sum(q["totals"]["waiting"] for q in queue_stats(conn, settings)["queues"]) == 0


def test_unserialisable_payload_is_refused_before_redis(conn, settings):
    with pytest.raises(UsageError, match="JSON"):
        enqueue(conn, settings, "noop", {"when": object()})
    assert conn.keys(f"{Job.redis_job_namespace_prefix}*") == []


def test_unknown_job_type(conn, settings):
    with pytest.raises(UsageError, match="unknown job type"):
        enqueue(conn, settings, "fax", {})


def test_stats_cover_every_queue_and_dead_letter(conn, settings):
    stats = queue_stats(conn, settings)
    assert [q["queue"] for q in stats["queues"]] == list(
        queue_catalog(settings)
    )  # dead-letter too, in its place
    assert stats["dead_letter"] == 0
    assert stats["queues"][-1] == {
        "queue": "dead-letter",
        "default_priority": None,
        "priorities": {},
        "workers": 0,
        "totals": dict.fromkeys(STATES, 0),
    }
    one = queue_stats(conn, settings, "payment-retry")
    assert [q["queue"] for q in one["queues"]] == ["payment-retry"]


def test_stats_use_constant_number_of_commands(conn, settings, monkeypatch):
    """Counts, not lists: what stats sends to Redis must not depend on how many jobs wait."""
    small = commands_sent(monkeypatch, lambda: queue_stats(conn, settings))
    enqueue_many(conn, settings, "noop", [{}] * 2000, queue="email-sending")
    for _ in range(300):  # nor on how long the audit log is
        audit.record(conn, settings, audit.Entry("queue.pause", "email-sending"))
    big = commands_sent(monkeypatch, lambda: queue_stats(conn, settings))
    assert big == small
    # SMEMBERS: the registered workers (none here); XLEN, MEMORY USAGE, XRANGE COUNT 1: the audit log
    assert {c.split()[0] for c in big} == {"LLEN", "ZCARD", "SMEMBERS", "XLEN", "MEMORY", "XRANGE"}
    assert [c.split()[0] for c in big].count("XRANGE") == 1


def test_the_whole_view_has_the_audit_logs_size(conn, settings):
    assert "audit" not in queue_stats(conn, settings, "email-sending")  # one queue's view: not its part
    assert queue_stats(conn, settings)["audit"] == {"entries": 0, "bytes": None, "oldest": None}
    first = audit.record(conn, settings, audit.Entry("queue.pause", "email-sending"))
    audit.record(conn, settings, audit.Entry("queue.resume", "email-sending"))
    size = queue_stats(conn, settings)["audit"]
    assert size["entries"] == 2 and size["bytes"] > 0
    assert size == audit.log_size(conn)
    # the stream id's clock is the server's, the entry's time the writer's: the same machine here
    said = datetime.fromisoformat(size["oldest"].replace("Z", "+00:00"))
    written = datetime.fromisoformat(first["time"].replace("Z", "+00:00"))
    assert abs((said - written).total_seconds()) < 2


def test_queue_show_pages_across_priorities(conn, settings):
    high = enqueue_many(conn, settings, "noop", [{}] * 3, queue="payment-retry", priority="high")
    normal = enqueue_many(conn, settings, "noop", [{}] * 4, queue="payment-retry")
    page1 = queue_jobs(conn, settings, "payment-retry", "waiting", offset=0, limit=5)
    assert [j["id"] for j in page1["jobs"]] == high + normal[:2]
    assert page1["total"] == 7 and page1["next_offset"] == 5
    page2 = queue_jobs(conn, settings, "payment-retry", "waiting", offset=5, limit=5)
    assert [j["id"] for j in page2["jobs"]] == normal[2:]
    assert page2["next_offset"] is None
    assert page1["jobs"][0]["priority"] == "high" and page1["jobs"][0]["type"] == "noop"


def test_queue_show_rejects_bad_state(conn, settings):
    with pytest.raises(UsageError, match="unknown state"):
        queue_jobs(conn, settings, "payment-retry", "zombie")
    with pytest.raises(NotFound):
        queue_jobs(conn, settings, "nope", "waiting")


def test_job_detail_and_not_found(conn, settings):
    job_id = enqueue(conn, settings, "noop", {"hello": "world"}, queue="referral-commission", priority="low")
    detail = job_detail(conn, settings, job_id)
    assert detail["status"] == "queued"
    assert detail["payload"] == {"hello": "world"}
    assert detail["queue"] == "referral-commission" and detail["priority"] == "low"
    assert detail["attempts"]["allowed"] == 5 and detail["attempts"]["made"] == 0
    with pytest.raises(NotFound):
        job_detail(conn, settings, "does-not-exist")
    with pytest.raises(UsageError):
        job_detail(conn, settings, "bad id!")
