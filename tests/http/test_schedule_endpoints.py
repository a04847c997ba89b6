"""/api/jobs/schedules: the CLI's schedule list, remove, pause, resume and run over HTTP, and one
schedule's row."""

from __future__ import annotations

import pytest
from rq.job import Job

from jobctl.core import audit, keyspace, schedules
from jobctl.core.payloads import PayloadSerializer
from tests.http.conftest import bearer

DEFAULT_NAMES = {
    "daily-reports",
    "weekly-reports",
    "analytics-hourly",
    "analytics-daily",
    "analytics-weekly",
    "analytics-monthly",
}


def _comparable(rows: list[dict]) -> list[dict]:
    # a pending default's next run is computed at read time: two reads a minute boundary apart may differ
    computed = ("next_run_at", "next_runs")
    return [{k: v for k, v in r.items() if r["seeded"] or k not in computed} for r in rows]


def test_list_is_the_cli_list_with_defaults_not_yet_seeded_and_data_redacted(
    client, creds, cli, redis_client, settings
):
    schedules.add_schedule(
        redis_client, settings, "nightly-ann", "0 3 * * *", job_type="noop", data={"to": "ann@example.com"}
    )
    response = client.get("/api/jobs/schedules", headers=bearer(creds["viewer"]))
    assert response.status_code == 200, response.text
    body = response.json()
    rows = {r["name"]: r for r in body["schedules"]}
    assert set(rows) == DEFAULT_NAMES | {"nightly-ann"}
    assert rows["nightly-ann"]["seeded"] is True and rows["nightly-ann"]["data"] == {"to": "a***@example.com"}
    assert {rows[n]["seeded"] for n in DEFAULT_NAMES} == {False}
    assert _comparable(body["schedules"]) == _comparable(cli.json("schedule", "list")["schedules"])

    schedules.seed_defaults(redis_client, settings)
    rows = {
        r["name"]: r
        for r in client.get("/api/jobs/schedules", headers=bearer(creds["viewer"])).json()["schedules"]
    }
    assert {rows[n]["seeded"] for n in DEFAULT_NAMES} == {True}


def test_delete_removes_and_is_audited_as_the_token(client, creds, redis_client, settings):
    schedules.add_schedule(redis_client, settings, "nightly", "0 3 * * *", job_type="noop")
    response = client.delete("/api/jobs/schedules/nightly", headers=bearer(creds["admin"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["removed"] == "nightly" and body["schedule"]["cron"] == "0 3 * * *"
    assert body["schedule"]["seeded"] is True
    assert not redis_client.hexists(keyspace.schedules(), "nightly")
    assert redis_client.zscore(keyspace.schedules_due(), "nightly") is None
    [entry] = audit.list_entries(redis_client, action="schedule.remove", limit=1)
    assert (entry["actor"], entry["face"], entry["target"], entry["count"], entry["outcome"]) == (
        "admin-token",
        "http",
        "nightly",
        1,
        "ok",
    )


def test_delete_of_a_default_not_yet_seeded_keeps_it_from_ever_being_seeded(
    client, creds, redis_client, settings
):
    response = client.delete("/api/jobs/schedules/weekly-reports", headers=bearer(creds["admin"]))
    assert response.status_code == 200, response.text
    assert response.json()["schedule"]["seeded"] is False
    schedules.seed_defaults(redis_client, settings)
    assert not redis_client.hexists(keyspace.schedules(), "weekly-reports")
    listed = client.get("/api/jobs/schedules", headers=bearer(creds["viewer"])).json()["schedules"]
    assert {r["name"] for r in listed} == DEFAULT_NAMES - {"weekly-reports"}
    [entry] = audit.list_entries(redis_client, action="schedule.remove", limit=1)
    assert entry["filters"] == {"not_yet_seeded": True} and entry["face"] == "http"


def test_delete_of_an_unknown_or_already_removed_schedule_is_404(client, creds, redis_client):
    admin = bearer(creds["admin"])

    def not_found(name: str) -> None:
        response = client.delete(f"/api/jobs/schedules/{name}", headers=admin)
        assert response.status_code == 404, response.text
        assert response.json()["error"] == {
            "code": "not_found",
            "message": f"no schedule {name!r}",
            "hint": "see GET /api/jobs/schedules",
        }

    not_found("ghost")
    assert client.delete("/api/jobs/schedules/daily-reports", headers=admin).status_code == 200
    not_found("daily-reports")  # the default's second removal finds nothing
    assert [e["outcome"] for e in audit.list_entries(redis_client, action="schedule.remove")] == [
        "failed",
        "ok",
        "failed",
    ]
    assert not redis_client.exists(keyspace.schedules())


def test_delete_with_an_invalid_name_is_422_and_changes_nothing(client, creds, redis_client):
    response = client.delete("/api/jobs/schedules/bad%20name", headers=bearer(creds["admin"]))
    assert response.status_code == 422, response.text
    assert "name" in response.json()["error"]["message"]
    assert audit.list_entries(redis_client, action="schedule.remove") == []
    assert not redis_client.exists(f"{keyspace.schedules()}:seeded")


def test_an_operator_cannot_delete_a_schedule(client, creds, redis_client):
    response = client.delete("/api/jobs/schedules/daily-reports", headers=bearer(creds["operator"]))
    assert response.status_code == 403 and "admin" in response.json()["error"]["message"]
    listed = client.get("/api/jobs/schedules", headers=bearer(creds["operator"])).json()["schedules"]
    assert "daily-reports" in {r["name"] for r in listed}


# --- one schedule: show, pause, resume, run now ----------------------------------------------------


def test_show_is_the_schedules_row_in_the_clis_list(client, creds, cli, redis_client, settings):
    schedules.add_schedule(
        redis_client,
        settings,
        "nightly-ann",
        "30 3 * * *",
        tz="Europe/Berlin",
        job_type="noop",
        data={"to": "ann@example.com"},
    )
    schedules.run_now(redis_client, settings, "nightly-ann")  # a last run and its job's status
    listed = {r["name"]: r for r in cli.json("schedule", "list")["schedules"]}
    for name in ("nightly-ann", "daily-reports"):  # stored, and a default not yet seeded
        response = client.get(f"/api/jobs/schedules/{name}", headers=bearer(creds["viewer"]))
        assert response.status_code == 200, response.text
        assert _comparable([response.json()]) == _comparable([listed[name]])
    row = client.get("/api/jobs/schedules/nightly-ann", headers=bearer(creds["viewer"])).json()
    assert row["data"] == {"to": "a***@example.com"} and row["last_job_status"] == "queued"
    assert row["next_runs"][0]["local"].endswith(("+01:00", "+02:00")) and row["seeded"] is True


def test_show_of_an_unknown_schedule_is_404_with_the_apis_hint(client, creds):
    response = client.get("/api/jobs/schedules/ghost", headers=bearer(creds["viewer"]))
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "no schedule 'ghost'",
        "hint": "see GET /api/jobs/schedules",
    }


def test_pause_then_resume_as_the_cli_says_and_audited_as_the_token(
    client, creds, cli, redis_client, settings
):
    schedules.add_schedule(redis_client, settings, "nightly", "0 3 * * *", job_type="noop")
    operator = bearer(creds["operator"])
    paused = client.post("/api/jobs/schedules/nightly/pause", headers=operator)
    assert paused.status_code == 200, paused.text
    assert (paused.json()["paused"], paused.json()["changed"]) == (True, True)
    again = client.post("/api/jobs/schedules/nightly/pause", headers=operator).json()
    assert (again["paused"], again["changed"]) == (True, False)
    assert again == cli.json("schedule", "pause", "nightly")  # the same document, nothing changed
    resumed = client.post("/api/jobs/schedules/nightly/resume", headers=operator).json()
    assert (resumed["paused"], resumed["changed"]) == (False, True)
    assert schedules.get_schedule(redis_client, "nightly")["paused"] is False
    got = [
        (e["actor"], e["face"], e["action"], e["count"])
        for e in audit.list_entries(redis_client, limit=4)
        if e["action"].startswith("schedule.") and e["action"] != "schedule.add"
    ]
    assert got == [
        ("operator-token", "http", "schedule.resume", 1),
        (audit.os_user(), "cli", "schedule.pause", 0),
        ("operator-token", "http", "schedule.pause", 0),
        ("operator-token", "http", "schedule.pause", 1),
    ]


def test_run_now_queues_the_job_and_returns_its_id(client, creds, redis_client, settings):
    schedules.add_schedule(redis_client, settings, "nightly", "0 3 * * *", job_type="noop")
    response = client.post("/api/jobs/schedules/nightly/run", headers=bearer(creds["operator"]))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["schedule"] == "nightly" and body["job_id"].startswith("sched-nightly-manual-")
    job = Job.fetch(body["job_id"], connection=redis_client, serializer=PayloadSerializer)
    assert job.get_status().value == "queued" and job.meta["schedule"] == "nightly"
    assert schedules.get_schedule(redis_client, "nightly")["last_job_id"] == body["job_id"]
    [entry] = audit.list_entries(redis_client, action="schedule.run", limit=1)
    assert (entry["actor"], entry["face"], entry["filters"]) == (
        "operator-token",
        "http",
        {"job_id": body["job_id"]},
    )


@pytest.mark.parametrize("action", ["pause", "resume", "run"])
def test_acting_on_an_unknown_or_not_yet_seeded_schedule_is_404(action, client, creds, redis_client):
    operator = bearer(creds["operator"])
    ghost = client.post(f"/api/jobs/schedules/ghost/{action}", headers=operator)
    assert ghost.status_code == 404 and ghost.json()["error"]["hint"] == "see GET /api/jobs/schedules"
    pending = client.post(f"/api/jobs/schedules/daily-reports/{action}", headers=operator)
    assert pending.status_code == 404
    assert pending.json()["error"] == {
        "code": "not_found",
        "message": "schedule 'daily-reports' is not yet seeded",
        "hint": "the first scheduler to start stores it: jobctl scheduler start",
    }
    entries = audit.list_entries(redis_client, action=f"schedule.{action}")
    assert [(e["face"], e["outcome"]) for e in entries] == [("http", "failed")] * 2
    assert not redis_client.exists(keyspace.schedules())
