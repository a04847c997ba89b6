"""GET /api/jobs/dlq/groups and the fingerprint filter: what they refuse, and that they match the CLI."""

from __future__ import annotations

from jobctl.core import dlq
from tests.http.conftest import dead_jobs


def test_groups_match_the_core_and_filter_by_queue_and_since(client, admin, redis_client, settings):
    dead_jobs(redis_client, settings, 3)
    body = client.get("/api/jobs/dlq/groups", headers=admin).json()
    assert [(g["count"], g["queues"]) for g in body["groups"]] == [(3, {"payment-retry": 3})]
    assert body["groups"][0]["fingerprint"] == "PermanentJobFailure: boom <n>"
    assert body["groups"] == dlq.groups(redis_client, settings)["groups"]
    assert client.get("/api/jobs/dlq/groups?queue=email-sending", headers=admin).json()["groups"] == []
    assert client.get("/api/jobs/dlq/groups?since=1h", headers=admin).json()["total_groups"] == 1


def test_bad_filters_are_refused(client, admin, redis_client, settings):
    [job_id] = dead_jobs(redis_client, settings, 1)
    since = client.get("/api/jobs/dlq/groups?since=soon", headers=admin)
    assert since.status_code == 400 and "since" in since.json()["error"]["message"]
    assert client.get("/api/jobs/dlq/groups?queue=nope", headers=admin).status_code == 404
    assert client.get("/api/jobs/dlq?fingerprint=smtp-550", headers=admin).status_code == 422
    by_ids = client.delete(f"/api/jobs/dlq?job_ids={job_id}&fingerprint=0123456789ab", headers=admin)
    assert by_ids.status_code == 400 and "fingerprint" in by_ids.json()["error"]["message"]
    retry = client.post(
        "/api/jobs/retry",
        headers=admin,
        json={"dlq": True, "job_ids": [job_id], "fingerprint": "0123456789ab"},
    )
    assert retry.status_code == 422 and dlq.read_entry(redis_client, job_id)["state"] == "dead"
