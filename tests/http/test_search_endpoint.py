"""GET /api/jobs/search: the core search (jobctl job search --json), read by any role."""

from __future__ import annotations

from jobctl.core.bulk import enqueue, enqueue_many
from tests.http.conftest import bearer, dead_jobs

WELCOME = {"name": "Ann", "login_url": "https://shop.example/login"}


def test_search_by_id_type_and_recipient_is_the_cli_json(client, creds, cli, redis_client, settings):
    viewer = bearer(creds["viewer"])
    [dead] = dead_jobs(redis_client, settings, 1)
    ann = enqueue(
        redis_client, settings, "email", {"to": "ann@example.com", "template": "welcome", "data": WELCOME}
    )
    later = enqueue(redis_client, settings, "noop", {}, delay=600)

    by_id = client.get("/api/jobs/search", params={"id": dead}, headers=viewer)
    assert by_id.status_code == 200, by_id.text
    assert by_id.json() == cli.json("job", "search", "--id", dead)
    assert [(j["id"], j["state"]) for j in by_id.json()["jobs"]] == [(dead, "dead")]

    to = client.get("/api/jobs/search", params={"recipient": "ANN@example.com"}, headers=viewer).json()
    assert [j["id"] for j in to["jobs"]] == [ann] and to["complete"] is True
    assert "payload" not in to["jobs"][0]

    scheduled = client.get("/api/jobs/search", params={"type": "noop", "state": "scheduled"}, headers=viewer)
    [row] = scheduled.json()["jobs"]
    assert row["id"] == later and row["runs_at"]


def test_search_bounds_and_errors(client, creds, redis_client, settings):
    viewer = bearer(creds["viewer"])
    enqueue_many(redis_client, settings, "noop", [{}] * 12)
    bounded = client.get("/api/jobs/search", params={"type": "noop", "scan_limit": 5}, headers=viewer).json()
    assert (bounded["scanned"], bounded["total"], bounded["complete"], bounded["stopped"]) == (
        5,
        12,
        False,
        "scan_limit",
    )
    missing = client.get("/api/jobs/search", params={"id": "no-such-job"}, headers=viewer)
    assert missing.status_code == 404 and missing.json()["error"]["hint"]
    nothing = client.get("/api/jobs/search", headers=viewer)
    assert nothing.status_code == 400 and "nothing to search for" in nothing.json()["error"]["message"]
    assert client.get("/api/jobs/search", params={"type": "nope"}, headers=viewer).status_code == 422
    assert (
        client.get(
            "/api/jobs/search", params={"state": "sleeping", "type": "noop"}, headers=viewer
        ).status_code
        == 422
    )
    assert client.get("/api/jobs/search", params={"type": "noop"}).status_code == 401
