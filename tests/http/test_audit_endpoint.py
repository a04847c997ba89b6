"""GET /api/audit: `jobctl audit list --json` over HTTP, with the same filters, paged by cursor."""

from __future__ import annotations

import pytest

from jobctl.core import audit, ops
from tests.http.conftest import bearer

Q = "email-sending"


def _changes(redis_client, settings) -> None:
    """Twelve entries after the tokens' own: three jobs enqueued by the OS user (api), pause/resume by
    a bot over http, and by the OS user, and one job a schedule fired (face scheduler)."""
    with audit.acting_as(audit.Actor(audit.os_user(), "api")):
        for job_type, target, count in (("email", "e-1", 1), ("file", "f-1", 1), ("email", "e-2 .. e-3", 2)):
            filters = {"type": job_type, "queue": Q, "priority": "normal"}
            audit.record(redis_client, settings, audit.Entry("enqueue", target, filters=filters, count=count))
    for face in ("http", "api"):
        with audit.acting_as(audit.Actor("deploy-bot" if face == "http" else audit.os_user(), face)):
            for _ in range(3 if face == "http" else 1):
                ops.pause_queue(redis_client, settings, Q)
                ops.resume_queue(redis_client, settings, Q)
    with audit.acting_as(audit.Actor("schedule:tidy", "scheduler")):  # a schedule firing
        filters = {"type": "noop", "queue": Q, "priority": "normal"}
        audit.record(redis_client, settings, audit.Entry("enqueue", "sched-tidy-1", filters=filters, count=1))


@pytest.mark.parametrize(
    "query, cli_args",
    [
        ("", ()),
        ("?actor=deploy-bot", ("--actor", "deploy-bot")),
        ("?action=queue.resume&face=http", ("--action", "queue.resume", "--face", "http")),
        ("?since=5m&limit=3", ("--since", "5m", "--limit", "3")),
        ("?since=2999-01-01T00:00Z", ("--since", "2999-01-01T00:00Z")),
        ("?action=enqueue&type=email", ("--action", "enqueue", "--type", "email")),
        ("?type=file", ("--type", "file")),
        ("?face=scheduler", ("--face", "scheduler")),
    ],
)
def test_entries_are_the_clis_for_the_same_filters(
    query, cli_args, client, creds, cli, redis_client, settings
):
    _changes(redis_client, settings)
    response = client.get(f"/api/audit{query}", headers=bearer(creds["operator"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["entries"] == cli.json("audit", "list", *cli_args)["entries"]
    if query == "?actor=deploy-bot":
        assert [e["action"] for e in body["entries"]] == ["queue.resume", "queue.pause"] * 3
    if query == "?since=2999-01-01T00:00Z":
        assert body == {"entries": [], "next_cursor": None}
    if query == "?action=enqueue&type=email":
        assert [(e["target"], e["count"]) for e in body["entries"]] == [("e-2 .. e-3", 2), ("e-1", 1)]
    if query == "?type=file":
        assert [e["target"] for e in body["entries"]] == ["f-1"]
    if query == "?face=scheduler":
        assert [(e["actor"], e["target"]) for e in body["entries"]] == [("schedule:tidy", "sched-tidy-1")]


def test_paging_by_cursor_walks_the_whole_log_once_newest_first(client, creds, redis_client, settings):
    _changes(redis_client, settings)
    everything = audit.list_entries(redis_client, limit=1000)
    assert len(everything) >= 8  # the tokens' creation and revocation, then the changes
    operator = bearer(creds["operator"])
    seen, cursor, pages = [], None, 0
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(f"/api/audit{query}", headers=operator).json()
        seen += body["entries"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert cursor == body["entries"][-1]["id"] and len(body["entries"]) == 3
    assert seen == everything and pages == -(-len(everything) // 3)
    # filters and the cursor together: the bot's entries, two at a time
    first = client.get("/api/audit?actor=deploy-bot&limit=2", headers=operator).json()
    second = client.get(
        f"/api/audit?actor=deploy-bot&limit=2&cursor={first['next_cursor']}", headers=operator
    ).json()
    bot = [e for e in everything if e["actor"] == "deploy-bot"]
    assert first["entries"] + second["entries"] == bot[:4]


@pytest.mark.parametrize(
    "query, status, needle",
    [
        ("?since=forever", 400, "since expects"),
        ("?face=web-page", 422, "face"),
        ("?limit=0", 422, "limit"),
        ("?limit=1001", 422, "limit"),
        (f"?type={'x' * 101}", 422, "type"),
        ("?cursor=abc", 422, "cursor"),
        ("?cursor=1-2-3", 422, "cursor"),
        ("?cursor=99999999999999999999-0", 400, "not an audit entry id"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_parameter(query, status, needle, client, creds):
    response = client.get(f"/api/audit{query}", headers=bearer(creds["admin"]))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert needle in error["message"] and error["hint"]
    assert "--since" not in error["message"]  # the parameter, not the CLI's option


def test_edge_cursors_and_old_since_answer_without_error(client, creds):
    admin = bearer(creds["admin"])
    assert client.get("/api/audit?cursor=0-0", headers=admin).json() == {"entries": [], "next_cursor": None}
    old = client.get("/api/audit?since=0001-01-01T00:00Z", headers=admin)  # before 1970: every entry
    assert old.status_code == 200 and len(old.json()["entries"]) >= 4


def test_a_viewer_may_not_read_the_log(client, creds):
    response = client.get("/api/audit", headers=bearer(creds["viewer"]))
    assert response.status_code == 403 and "operator" in response.json()["error"]["message"]
