"""What the endpoints return beyond the role matrix: the same data as the CLI's --json, paging, upserts."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from jobctl.core import audit, keyspace, schedules
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.worker import JobctlJob, JobctlWorker
from jobctl.http import create_app
from tests.core.test_ops import immediate_retries, run_one_attempt
from tests.http.conftest import bearer, dead_jobs, failed_jobs

P = "payment-retry"

NIGHTLY = {"name": "nightly", "cron": "0 3 * * *", "tz": "Europe/Berlin", "job": "noop", "data": {"k": 1}}


def test_schedule_is_created_then_updated_in_place(client, creds, redis_client):
    operator = bearer(creds["operator"])
    created = client.post("/api/jobs/schedule", headers=operator, json=NIGHTLY)
    assert created.status_code == 201 and created.json()["created"] is True
    assert created.json()["source"] == "http" and created.json()["data"] == {"k": 1}
    schedules.pause_schedule(redis_client, "nightly")

    updated = client.post(
        "/api/jobs/schedule",
        headers=operator,
        json={**NIGHTLY, "cron": "30 4 * * 1", "priority": "high", "missed": "skip"},
    )
    assert updated.status_code == 200, updated.text
    doc = updated.json()
    assert doc["created"] is False and doc["cron"] == "30 4 * * 1" and doc["priority"] == "high"
    assert doc["paused"] is True and doc["created_at"] == created.json()["created_at"]  # run state kept
    stored = schedules.get_schedule(redis_client, "nightly")
    assert stored["cron"] == "30 4 * * 1" and stored["missed"] == "skip"
    due = redis_client.zscore(keyspace.schedules_due(), "nightly")
    assert due == schedules._parse(stored["next_run_at"]).timestamp()  # the due index follows the new cron
    update, add = audit.list_entries(redis_client, actor="operator-token", limit=2)
    assert (add["action"], update["action"]) == ("schedule.add", "schedule.update")
    assert update["face"] == "http" and update["filters"]["cron"] == "30 4 * * 1"


def test_schedule_with_an_unknown_job_type_is_422_and_stores_nothing(client, creds, redis_client):
    response = client.post(
        "/api/jobs/schedule", headers=bearer(creds["admin"]), json={**NIGHTLY, "job": "nope"}
    )
    assert response.status_code == 422 and response.json()["error"]["message"].startswith(
        "body.job: input should be"
    )
    assert not redis_client.hexists(keyspace.schedules(), "nightly")


def test_stats_matches_the_cli_and_takes_a_window(client, creds, cli, redis_client, settings):
    enqueue_many(redis_client, settings, "noop", [{}] * 2, queue="payment-retry", priority="high")
    viewer = bearer(creds["viewer"])
    api = client.get("/api/jobs/stats?queue=payment-retry", headers=viewer).json()
    from_cli = cli.json("stats", "--queue", "payment-retry")
    api.pop("generated_at"), from_cli.pop("generated_at")
    assert api == from_cli and api["queues"][0]["priorities"]["high"]["waiting"] == 2
    windowed = client.get("/api/jobs/stats?window=1h", headers=viewer).json()
    assert windowed["window"]["seconds"] == 3600 and "payment-retry" in windowed["window"]["queues"]


def test_queue_detail_pages_through_a_state(client, creds, redis_client, settings):
    ids = enqueue_many(redis_client, settings, "noop", [{}] * 5, queue="email-sending")
    viewer = bearer(creds["viewer"])
    first = client.get("/api/jobs/queues/email-sending?limit=2", headers=viewer).json()
    assert first["policy"]["attempts"] >= 1 and first["policy"]["physical"][0].startswith("email-sending:")
    assert [j["id"] for j in first["page"]["jobs"]] == ids[:2] and first["page"]["next_offset"] == 2
    rest = client.get(
        f"/api/jobs/queues/email-sending?offset={first['page']['next_offset']}&limit=10", headers=viewer
    ).json()
    assert [j["id"] for j in rest["page"]["jobs"]] == ids[2:] and rest["page"]["next_offset"] is None
    empty = client.get("/api/jobs/queues/email-sending?state=failed", headers=viewer).json()
    assert empty["page"]["total"] == 0 and empty["page"]["state"] == "failed"


def test_dlq_list_pages_with_the_cursor_and_filters(client, creds, redis_client, settings):
    ids = dead_jobs(redis_client, settings, 3)
    viewer = bearer(creds["viewer"])
    page = client.get("/api/jobs/dlq?limit=2", headers=viewer).json()
    assert [e["job_id"] for e in page["entries"]] == ids[::-1][:2] and page["total"] == 3
    rest = client.get(f"/api/jobs/dlq?limit=2&cursor={page['next_cursor']}", headers=viewer).json()
    assert [e["job_id"] for e in rest["entries"]] == ids[:1] and rest["next_cursor"] is None
    only = client.get("/api/jobs/dlq?error_contains=boom 1&queue=payment-retry", headers=viewer).json()
    assert [e["job_id"] for e in only["entries"]] == [ids[1]]


def test_bulk_results_name_what_was_not_done(client, creds, redis_client, settings):
    [dead] = dead_jobs(redis_client, settings, 1)
    operator = bearer(creds["operator"])
    replay = client.post("/api/jobs/retry", headers=operator, json={"dlq": True, "job_ids": [dead, "ghost"]})
    assert replay.status_code == 200
    assert replay.json() == {"dry_run": False, "replayed": [dead], "not_found": ["ghost"], "refused": []}
    [entry] = audit.list_entries(redis_client, action="dlq.replay")
    assert entry["outcome"] == "partial" and entry["actor"] == "operator-token"
    purge = client.delete("/api/jobs/dlq?job_ids=ghost&job_ids=other", headers=bearer(creds["admin"]))
    assert purge.json() == {"dry_run": False, "purged": [], "not_found": ["ghost", "other"]}


def test_clear_dry_run_counts_and_changes_nothing(client, creds, redis_client, settings):
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue="email-sending", priority="low")
    admin = bearer(creds["admin"])
    planned = client.delete(
        "/api/jobs/queues/email-sending?state=all&priority=low&dry_run=true", headers=admin
    )
    assert planned.json()["total"] == 3 and planned.json()["dry_run"] is True
    assert not audit.list_entries(redis_client, action="queue.clear")
    done = client.delete("/api/jobs/queues/email-sending?state=all&priority=low", headers=admin).json()
    assert done["total"] == 3 and done["removed"]["waiting"] == 3


def test_job_detail_is_the_cli_json(client, creds, cli, redis_client, settings):
    [job_id] = enqueue_many(redis_client, settings, "noop", [{"n": 1}], queue="email-sending")
    api = client.get(f"/api/jobs/{job_id}", headers=bearer(creds["viewer"])).json()
    assert api == json.loads(json.dumps(cli.json("job", "show", job_id), default=str))
    assert api["payload"] == {"n": 1}


def test_job_and_dead_letter_data_are_redacted_as_admin_too(client, creds, redis_client, settings):
    secret = "ada.lovelace@example.com"
    [waiting] = enqueue_many(
        redis_client, settings, "noop", [{"to": secret, "password": "hunter2"}], queue="email-sending"
    )
    ids = enqueue_many(
        redis_client, settings, "fail", [{"message": f"refused {secret}"}], queue="payment-retry"
    )
    JobctlWorker(
        [rq_queue(redis_client, q) for q in queue_catalog(settings)["payment-retry"].physical_names],
        connection=redis_client,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)
    admin = bearer(creds["admin"])
    job = client.get(f"/api/jobs/{waiting}", headers=admin)
    page = client.get("/api/jobs/queues/email-sending", headers=admin)
    dead = client.get("/api/jobs/dlq", headers=admin)
    assert job.status_code == page.status_code == dead.status_code == 200
    assert job.json()["payload"] == {"to": "a***@example.com", "password": "[redacted]"}
    assert [e["job_id"] for e in dead.json()["entries"]] == ids
    assert "a***@example.com" in dead.json()["entries"][0]["error_message"]
    for response in (job, page, dead):
        assert "lovelace" not in response.text and "hunter2" not in response.text


# --- retry: one verb for failed and dead-lettered jobs ----------------------------------------------


def test_retry_by_ids_retries_failed_replays_dead_and_says_per_id(
    client, creds, redis_client, settings, tmp_path
):
    [dead] = dead_jobs(redis_client, settings, 1)
    [failed] = failed_jobs(redis_client, tmp_path, 1)  # after the jobctl worker, whose sweep would take it
    response = client.post(
        "/api/jobs/retry", headers=bearer(creds["operator"]), json={"job_ids": [dead, failed, "ghost"]}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["results"] == [
        {"id": dead, "outcome": "replayed", "reason": None},
        {"id": failed, "outcome": "retried", "reason": None},
        {"id": "ghost", "outcome": "not_found", "reason": "no job 'ghost'"},
    ]
    assert (body["retried"], body["replayed"], body["not_found"], body["refused"]) == (
        [failed],
        [dead],
        ["ghost"],
        [],
    )
    assert redis_client.zscore(keyspace.dlq_index(), dead) is None
    got = [
        (e["action"], e["actor"], e["face"], e["count"])
        for e in audit.list_entries(redis_client)
        if e["action"] in ("job.retry", "dlq.replay")
    ]
    assert got == [("job.retry", "operator-token", "http", 2), ("dlq.replay", "operator-token", "http", 1)]


def test_retry_with_the_specs_queue_name_and_job_id(creds, redis_client, tmp_path):
    settings = immediate_retries(tmp_path, P, 2)
    counter = tmp_path / "runs"
    [dead] = enqueue_many(
        redis_client, settings, "flaky", [{"counter": str(counter), "fail_times": 2}], queue=P
    )
    while run_one_attempt(redis_client, settings, P):
        pass
    [waiting] = enqueue_many(redis_client, settings, "noop", [{}], queue="email-sending")
    operator = bearer(creds["operator"])
    with TestClient(create_app(settings, redis_client)) as client:

        def retry(queue, job_id):
            return client.post(
                "/api/jobs/retry", headers=operator, json={"queueName": queue, "jobId": job_id}
            )

        wrong = retry("email-sending", dead)
        assert wrong.status_code == 404
        assert (
            wrong.json()["error"]["message"]
            == f"job {dead} is not in queue 'email-sending' (it was dead-lettered from '{P}')"
        )
        assert retry("nope", dead).status_code == 404
        assert retry(P, "ghost").json()["error"]["message"] == "no job 'ghost'"
        refused = retry("email-sending", waiting)
        assert refused.status_code == 409
        assert (
            refused.json()["error"]["message"] == f"job {waiting} was not retried: not failed (status queued)"
        )
        assert redis_client.zscore(keyspace.dlq_index(), dead) is not None  # none of that touched it

        done = retry(P, dead)
        assert done.status_code == 200 and done.json()["replayed"] == [dead]
        shown = client.get(f"/api/jobs/{dead}", headers=operator).json()
        assert shown["status"] == "queued" and shown["attempts"]["made"] == 0
        assert shown["attempts"]["retries_left"] == 1
        assert run_one_attempt(redis_client, settings, P) == 1
        finished = client.get(f"/api/jobs/{dead}", headers=operator).json()
        assert finished["status"] == "finished" and finished["result"] == {"attempt": 3}
    assert int(counter.read_text()) == 3


def test_job_read_shows_retries_left_at_each_attempt(creds, redis_client, tmp_path):
    settings = immediate_retries(tmp_path, P, 3)
    [job_id] = enqueue_many(
        redis_client, settings, "flaky", [{"counter": str(tmp_path / "runs"), "fail_times": 9}], queue=P
    )
    viewer = bearer(creds["viewer"])
    seen = []
    with TestClient(create_app(settings, redis_client)) as client:
        while True:
            tries = client.get(f"/api/jobs/{job_id}", headers=viewer).json()["attempts"]
            seen.append((tries["made"], tries["allowed"], tries["retries_left"]))
            page = client.get(f"/api/jobs/queues/{P}", headers=viewer).json()["page"]["jobs"]
            assert [j["attempts"] for j in page] in (
                [],
                [{k: tries[k] for k in ("made", "allowed", "retries_left")}],
            )
            if not run_one_attempt(redis_client, settings, P):
                break
    assert int((tmp_path / "runs").read_text()) == 3
    assert seen == [(0, 3, 2), (1, 3, 2), (2, 3, 1), (3, 3, 0)]


def test_stats_have_the_audit_logs_size_as_the_cli_says(client, creds, cli, redis_client, settings):
    for _ in range(4):
        audit.record(redis_client, settings, audit.Entry("queue.pause", "email-sending"))
    api = client.get("/api/jobs/stats", headers=bearer(creds["viewer"])).json()
    # the tokens' own creation is in the log too
    assert api["audit"]["entries"] == redis_client.xlen(audit.stream_key()) >= 4
    assert api["audit"]["bytes"] > 0 and api["audit"]["oldest"].endswith("Z")
    assert api["audit"] == cli.json("stats")["audit"]
    assert (
        "audit"
        not in client.get("/api/jobs/stats?queue=email-sending", headers=bearer(creds["viewer"])).json()
    )
