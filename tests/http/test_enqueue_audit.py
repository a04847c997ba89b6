"""Every enqueue is audited (issue 22), from every way in: who (actor, face), the job type, queue,
priority and count, the job id or (bulk) the first and last ids and a digest of the payloads; the
payload's shape, never its values; written by the same script that queues the jobs."""

from __future__ import annotations

import json

import pytest
import redis

from jobctl import api
from jobctl.core import audit, bulk, lifecycle, runtime
from jobctl.core.stats import queue_key
from jobctl.core.submit import submit_rows
from tests.http.conftest import bearer

WELCOME = {"name": "Ann Secret", "login_url": "https://shop.example/login/xyz"}


def enqueues(conn) -> list[dict]:
    return audit.list_entries(conn, action="enqueue", limit=1000)


def assert_no_values(conn) -> None:
    """No payload value is anywhere in the audit stream, in any field."""
    raw = json.dumps(
        [[k.decode(), v.decode()] for _, f in conn.xrange(audit.stream_key()) for k, v in f.items()]
    )
    for secret in ("Ann Secret", "ann@example.com", "login/xyz"):
        assert secret not in raw


def test_the_cli_records_one_entry_per_enqueue_with_the_shape(cli, redis_client):
    job_id = cli(
        "enqueue",
        "email",
        "--to",
        "ann@example.com",
        "-t",
        "welcome",
        "-d",
        "name=Ann Secret",
        "-d",
        "login_url=https://shop.example/login/xyz",
    ).stdout.strip()
    [entry] = enqueues(redis_client)
    assert (entry["actor"], entry["face"], entry["target"], entry["count"], entry["outcome"]) == (
        audit.os_user(),
        "cli",
        job_id,
        1,
        "ok",
    )
    assert entry["filters"]["type"] == "email" and entry["filters"]["queue"] == "email-sending"
    assert entry["filters"]["priority"] == "normal" and "digest" not in entry["filters"]
    assert entry["filters"]["shape"]["data"] == {"name": "str", "login_url": "str"}
    assert_no_values(redis_client)
    listed = cli.json("audit", "list", "--action", "enqueue", "--type", "email")["entries"]
    assert [e["target"] for e in listed] == [job_id]
    assert cli.json("audit", "list", "--action", "enqueue", "--type", "noop")["entries"] == []


def test_a_bulk_call_is_one_entry_with_first_last_count_and_digest(cli, redis_client, tmp_path):
    csv_path = tmp_path / "r.csv"
    csv_path.write_text(
        "email,name,login_url\n"
        + "".join(f"u{n}@example.com,N{n},https://x.example/l\n" for n in range(1200))
    )
    out = cli.json("enqueue", "email-bulk", "-t", "welcome", "--recipients", str(csv_path))
    [entry] = enqueues(redis_client)
    assert entry["target"] == f"{out['first_job_id']} .. {out['last_job_id']}"
    assert entry["count"] == 1200 and entry["filters"]["digest"] == out["digest"]
    assert entry["face"] == "cli"


def test_the_http_api_records_its_caller(client, creds, redis_client):
    answer = client.post(
        "/api/jobs",
        headers=bearer(creds["operator"]),
        json={"job": "email", "data": {"to": "ann@example.com", "template": "welcome", "data": WELCOME}},
    )
    assert answer.status_code == 201, answer.text
    [entry] = enqueues(redis_client)
    assert (entry["actor"], entry["face"], entry["count"]) == ("operator-token", "http", 1)
    assert entry["target"] == answer.json()["job_id"]
    assert_no_values(redis_client)
    listed = client.get("/api/audit?action=enqueue&type=email", headers=bearer(creds["admin"])).json()
    assert [e["target"] for e in listed["entries"]] == [entry["target"]]


def test_the_python_api_records_face_api(redis_client, settings):
    runtime.install(settings, redis_client)
    ids = api.add_bulk_email_jobs(["a@example.com", "b@example.com"], "welcome", WELCOME)
    [entry] = enqueues(redis_client)
    assert (entry["face"], entry["target"], entry["count"]) == ("api", f"{ids[0]} .. {ids[1]}", 2)


def test_the_entry_is_written_by_the_script_that_queues_the_jobs(redis_client, settings, monkeypatch):
    sent = []
    original = redis.Redis.execute_command

    def spy(self, *args, **kwargs):
        sent.append(args[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", spy)
    submit_rows(redis_client, settings, "noop", [{}] * 3, queue="file-processing")
    monkeypatch.undo()
    assert [c for c in sent if c != "SCRIPT LOAD"] == ["EVALSHA"]  # one round trip: jobs and record
    [entry] = enqueues(redis_client)
    assert entry["count"] == 3 and redis_client.llen(queue_key("file-processing:high")) == 3


def test_a_call_that_fails_part_way_records_what_landed(redis_client, settings, monkeypatch):
    monkeypatch.setattr(bulk, "BATCH_MAX", 100)
    real, calls = lifecycle.push_rows, []

    def failing_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise redis.ConnectionError("connection lost (injected)")
        return real(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "push_rows", failing_third)
    with pytest.raises(redis.ConnectionError):
        submit_rows(redis_client, settings, "noop", [{}] * 1000, queue="file-processing")
    [entry] = enqueues(redis_client)
    assert (entry["count"], entry["outcome"]) == (200, "partial")
    assert "800 not done" in entry["error"]
