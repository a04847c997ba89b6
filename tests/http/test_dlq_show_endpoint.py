"""GET /api/jobs/dlq/{job_id}: `jobctl dlq show --json` over HTTP, redacted for every role."""

from __future__ import annotations

import json

from jobctl.cli.app import app
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.worker import JobctlJob, JobctlWorker
from tests.http.conftest import bearer, dead_jobs

P = "payment-retry"


def _dead_with_an_address(conn, settings) -> str:
    [job_id] = enqueue_many(conn, settings, "fail", [{"message": "refused by ann@example.com"}], queue=P)
    JobctlWorker(
        [rq_queue(conn, q) for q in queue_catalog(settings)[P].physical_names],
        connection=conn,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)
    return job_id


def _cli_show(cli, job_id: str) -> dict:
    """`jobctl dlq show --json`: run directly, since the entry's own traceback is in its output (the
    `cli` fixture refuses any output with one)."""
    result = cli.runner.invoke(app, ["dlq", "show", job_id, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_an_entry_is_the_clis_show_redacted_even_for_an_admin(client, creds, cli, redis_client, settings):
    job_id = _dead_with_an_address(redis_client, settings)
    for who in ("viewer", "admin"):
        response = client.get(f"/api/jobs/dlq/{job_id}", headers=bearer(creds[who]))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body == _cli_show(cli, job_id)
        assert body["job_id"] == job_id and body["state"] == "dead" and body["queue"] == P
        assert "ann@example.com" not in response.text and "a***@example.com" in response.text
        assert body["attempts"]


def test_unknown_entry_is_404_with_the_apis_hint(client, creds, redis_client, settings):
    [alive] = enqueue_many(redis_client, settings, "noop", [{}], queue=P)  # a job, but not dead
    for job_id in ("no-such-job", alive):
        response = client.get(f"/api/jobs/dlq/{job_id}", headers=bearer(creds["viewer"]))
        assert response.status_code == 404, response.text
        assert response.json()["error"] == {
            "code": "not_found",
            "message": f"no dead-letter entry {job_id!r}",
            "hint": "see GET /api/jobs/dlq",
        }
    assert client.get("/api/jobs/dlq/bad%20id", headers=bearer(creds["viewer"])).status_code == 422


def test_groups_is_still_the_groups_not_an_entry_named_groups(client, creds, redis_client, settings):
    dead_jobs(redis_client, settings, 1)
    body = client.get("/api/jobs/dlq/groups", headers=bearer(creds["viewer"])).json()
    assert body["total_groups"] == 1 and body["groups"][0]["count"] == 1
