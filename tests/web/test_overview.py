"""The overview's reads: what they show, and that their cost does not grow with queue length."""

from __future__ import annotations

from jobctl.core import audit, ops
from jobctl.core.bulk import enqueue_many
from jobctl.web.overview import read_overview
from tests.redis_commands import commands_sent
from tests.web.conftest import run_burst

QUEUE = "email-sending"


def test_the_overview_shows_counts_windows_and_the_dead_letter_size(redis_client, settings):
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue=QUEUE)
    enqueue_many(redis_client, settings, "fail", [{"message": "no"}], queue="payment-retry")
    run_burst(redis_client, settings, QUEUE)
    run_burst(redis_client, settings, "payment-retry")
    enqueue_many(redis_client, settings, "noop", [{}] * 2, queue=QUEUE)
    ops.pause_queue(redis_client, settings, QUEUE)

    data = read_overview(redis_client, settings)
    queues = {q["name"]: q for q in data["queues"]}
    email = queues[QUEUE]
    assert (email["totals"]["waiting"], email["totals"]["completed"], email["paused"]) == (2, 3, True)
    assert email["oldest"] != "-" and data["oldest"] != "-"
    for label in ("1h", "24h"):
        assert (email["windows"][label]["completed"], email["windows"][label]["failed"]) == (3, 0)
        assert sum(email["windows"][label]["series"]["completed"]) == 3
        assert queues["payment-retry"]["windows"][label]["failed"] == 1
    assert len(email["windows"]["1h"]["series"]["completed"]) == 60
    assert len(email["windows"]["24h"]["series"]["completed"]) == 24
    assert email["windows"]["1h"]["wait_p95"] != "-"
    assert data["dead_letter"] == 1 and queues["dead-letter"]["windows"] == {}
    assert data["alerts"]["firing"] == [] and data["workers"] == []


def test_the_overview_costs_the_same_whatever_the_queue_length(monkeypatch, redis_client, settings):
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue=QUEUE)
    few = commands_sent(monkeypatch, lambda: read_overview(redis_client, settings))
    enqueue_many(redis_client, settings, "noop", [{}] * 1500, queue=QUEUE)
    many = commands_sent(monkeypatch, lambda: read_overview(redis_client, settings))
    assert many == few
    assert not [c for c in many if c.split()[0] in {"KEYS", "SCAN", "LRANGE"} and c.endswith(":-1")]


def test_the_overview_page_shows_the_audit_logs_size(web_client, web_tokens, redis_client, settings):
    for _ in range(3):
        audit.record(redis_client, settings, audit.Entry("queue.pause", QUEUE))
    data = read_overview(redis_client, settings)
    entries = redis_client.xlen(audit.stream_key())  # the tokens' creation is in the log too
    assert data["audit"]["entries"] == entries >= 3 and data["audit"]["size"].endswith(("bytes", "KiB"))
    assert web_client.post("/admin/jobs/login", data={"token": web_tokens["viewer"]}).status_code == 303
    page = web_client.get("/admin/jobs").text  # a viewer sees the size; the entries are for operators
    assert f'<span class="value" id="audit-entries">{entries}</span>' in page
    size = data["audit"]["size"]
    assert f'<span class="muted" id="audit-size">{size}, since {data["audit"]["oldest"][:10]}</span>' in page
