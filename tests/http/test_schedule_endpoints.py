"""GET /api/jobs/schedules and DELETE /api/jobs/schedules/{name}: the CLI's list and remove over HTTP."""

from __future__ import annotations

from jobctl.core import audit, keyspace, schedules
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
