"""The CLI and the HTTP API show the same dead-letter queue (its entries) and the same workers."""

from __future__ import annotations

from jobctl.core import dlq
from jobctl.core.stats import list_workers
from tests.core.test_liveness import physical, register
from tests.http.conftest import bearer, dead_jobs

DL = "dead-letter"


def test_dead_letter_queue_views_show_its_entries(client, creds, cli, redis_client, settings):
    dead_jobs(redis_client, settings, 3)
    listed = [e["job_id"] for e in dlq.list_entries(redis_client, settings)["entries"]]
    viewer = bearer(creds["viewer"])

    api = client.get(f"/api/jobs/queues/{DL}?limit=2", headers=viewer).json()
    assert api["totals"]["failed"] == 3 and api["workers"] == 0 and api["priorities"] == {}
    assert api["page"]["state"] == "failed" and api["page"]["total"] == 3
    assert [j["id"] for j in api["page"]["jobs"]] == listed[:2] and api["page"]["next_offset"] == 2
    waiting = client.get(f"/api/jobs/queues/{DL}?state=waiting", headers=viewer).json()["page"]
    assert (waiting["total"], waiting["jobs"]) == (0, [])

    shown = cli.json("queue", "show", DL, "--limit", "2")
    assert shown == api["page"]
    text = cli("queue", "show", DL).stdout
    assert "dead-letter failed: 3 job(s)" in text and all(i in text for i in listed)
    assert "payment-retry" in text  # the queue each one died on

    stats = cli.json("stats", "--queue", DL)
    assert stats["queues"][0]["totals"]["failed"] == 3 and stats["dead_letter"] == 3
    assert (
        next(q for q in client.get("/api/jobs/stats", headers=viewer).json()["queues"] if q["queue"] == DL)
        == stats["queues"][0]
    )
    table = cli("stats").stdout
    assert any(line.split()[:6] == [DL, "0", "0", "0", "0", "3"] for line in table.splitlines()), table


def test_workers_endpoint_is_worker_list(client, creds, cli, redis_client, settings):
    register(redis_client, "alive-one", physical(settings, "email-sending"), age=1)
    register(redis_client, "dead-one", physical(settings, "email-sending"), age=300)
    api = client.get("/api/jobs/workers", headers=bearer(creds["viewer"])).json()["workers"]
    assert [(w["name"], w["alive"]) for w in api] == [("alive-one", True), ("dead-one", False)]
    from_cli = cli.json("worker", "list")["workers"]
    for row in api + from_cli:  # ages move between two reads
        row.pop("heartbeat_age_seconds")
    assert api == from_cli
    assert [w["name"] for w in list_workers(redis_client, settings) if w["alive"]] == ["alive-one"]
    assert client.get("/api/jobs/workers").status_code == 401
