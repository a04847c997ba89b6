"""The test-only job types (sleep, fail, flaky; issue #22) through every face with
JOBCTL_TEST_JOB_TYPES off, as a production deployment runs, and on, as this suite runs (tests/conftest.py
turns it on): off, no list offers them, every enqueue and schedule refuses them with one line naming
the type and the setting, a schedule stored before is skipped without an error, and a worker
dead-letters a job of theirs already queued instead of running it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

import jobctl
from jobctl.config import load_settings
from jobctl.core import dlq, keyspace, schedules, tokens
from jobctl.core.bulk import enqueue
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.runtime import load_settings as runtime_settings
from jobctl.core.worker import JobctlJob, JobctlWorker
from jobctl.errors import ConfigError, UsageError
from jobctl.http import create_app
from tests.bad_input.checks import nothing_written, one_error

SETTING = "JOBCTL_TEST_JOB_TYPES"
TEST_TYPES = ("sleep", "fail", "flaky")
QUEUE = "email-sending"  # where the test-only types (and noop) go
NOW = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)


def settings_with(enabled: bool):
    env = {k: v for k, v in os.environ.items() if k != SETTING}
    return load_settings(environ={**env, SETTING: "1"} if enabled else env)


@pytest.fixture
def off(monkeypatch):
    """The setting unset (its default) for this process and what it loads; settings loaded so."""
    monkeypatch.delenv(SETTING)
    from jobctl.core import runtime

    runtime.reset()  # jobctl.add_job loads them again
    return load_settings()


def refused(message: str, job_type: str) -> None:
    assert message == f"job type {job_type!r} is test-only and not enabled here", message


def waiting(conn, settings) -> list[str]:
    return [j for p in queue_catalog(settings)[QUEUE].physical_names for j in rq_queue(conn, p).job_ids]


def run_burst(conn, settings) -> None:
    JobctlWorker(
        [rq_queue(conn, q) for q in queue_catalog(settings)[QUEUE].physical_names],
        connection=conn,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)


# --------------------------------------------------------------------------------------------
# The setting


def test_the_setting_is_off_by_default_and_the_suite_turns_it_on():
    assert os.environ[SETTING] == "1"
    assert settings_with(False).test_job_types is False
    assert load_settings(environ={SETTING: "yes"}).test_job_types is True


# --------------------------------------------------------------------------------------------
# CLI


def test_cli_job_types_lists_them_only_when_on(cli, off, monkeypatch):
    listed = [row["type"] for row in cli.json("job", "types")["types"]]
    assert "noop" in listed and not set(TEST_TYPES) & set(listed)
    assert not {line.split()[0] for line in cli("job", "types").stdout.splitlines() if line[:1] != " "} & set(
        TEST_TYPES
    )
    monkeypatch.setenv(SETTING, "1")
    listed = [row["type"] for row in cli.json("job", "types")["types"]]
    assert set(TEST_TYPES) <= set(listed)


@pytest.mark.parametrize(
    ("job_type", "args"),
    [("sleep", ["-d", "seconds=1"]), ("fail", []), ("flaky", ["-d", "counter=/tmp/never"])],
)
def test_cli_enqueue_refuses_a_test_only_type_when_off(cli, off, redis_client, jobctl_env, job_type, args):
    with nothing_written(redis_client, jobctl_env):
        result = cli("enqueue", "job", job_type, *args, code=2)
    refused(one_error(result.stderr), job_type)
    assert f"hint: set {SETTING}=1" in result.stderr


def test_cli_enqueue_takes_them_when_on(cli, redis_client, settings):
    job_id = cli("enqueue", "job", "sleep", "-d", "seconds=0").stdout.strip()
    assert waiting(redis_client, settings) == [job_id]


def test_noop_stays_offered_when_off(cli, off, redis_client):
    job_id = cli("enqueue", "job", "noop").stdout.strip()
    assert waiting(redis_client, off) == [job_id]


def test_cli_schedule_add_refuses_a_test_only_type_when_off(cli, off, redis_client, jobctl_env):
    with nothing_written(redis_client, jobctl_env):
        result = cli("schedule", "add", "drill", "--cron", "* * * * *", "--job", "flaky", code=2)
    refused(one_error(result.stderr), "flaky")
    assert not redis_client.hexists(keyspace.schedules(), "drill")


def test_cli_schedule_add_takes_them_when_on(cli, redis_client):
    cli("schedule", "add", "drill", "--cron", "* * * * *", "--job", "fail")
    assert redis_client.hexists(keyspace.schedules(), "drill")


# --------------------------------------------------------------------------------------------
# jobctl.toml [schedules]


def test_a_toml_schedule_of_a_test_only_type_is_refused_at_load_when_off(cli, off, tmp_path):
    (tmp_path / "jobctl.toml").write_text('[schedules.drill]\ncron = "@daily"\njob = "fail"\n')
    with pytest.raises(ConfigError) as caught:
        runtime_settings()
    assert caught.value.message.startswith("invalid schedules.drill.job in jobctl.toml")
    assert caught.value.message.endswith("job type 'fail' is test-only and not enabled here")
    assert SETTING in caught.value.hint
    result = cli("job", "types", code=2)  # every command loads the settings first
    assert "schedules.drill.job" in one_error(result.stderr)


def test_a_toml_schedule_of_a_test_only_type_loads_when_on(tmp_path, redis_client):
    (tmp_path / "jobctl.toml").write_text('[schedules.drill]\ncron = "@daily"\njob = "fail"\n')
    settings = runtime_settings()
    schedules.seed_defaults(redis_client, settings, now=NOW)
    assert schedules.get_schedule(redis_client, "drill")["job_type"] == "fail"


# --------------------------------------------------------------------------------------------
# HTTP


@pytest.fixture
def http(redis_client):
    """(client, admin headers) over the app with the given settings."""
    token = tokens.create_token(redis_client, settings_with(True), "admin-token", "admin")["token"]
    clients = []

    def make(settings):
        client = TestClient(create_app(settings, redis_client))
        clients.append(client.__enter__())
        return client, {"Authorization": f"Bearer {token}"}

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_http_types_list_them_only_when_on(http, off):
    client, auth = http(off)
    listed = [t["type"] for t in client.get("/api/jobs/types", headers=auth).json()["types"]]
    assert "noop" in listed and not set(TEST_TYPES) & set(listed)
    client, auth = http(settings_with(True))
    listed = [t["type"] for t in client.get("/api/jobs/types", headers=auth).json()["types"]]
    assert set(TEST_TYPES) <= set(listed)


def test_openapi_advertises_them_only_when_on(http, off):
    for enabled in (False, True):
        client, _ = http(settings_with(enabled))
        spec = client.get("/openapi.json").json()
        for model in ("EnqueueRequest", "ScheduleRequest"):
            enum = spec["components"]["schemas"][model]["properties"]["job"]["enum"]
            assert "noop" in enum and all((t in enum) is enabled for t in TEST_TYPES), (model, enum)


@pytest.mark.parametrize("job_type", TEST_TYPES)
def test_http_enqueue_refuses_a_test_only_type_when_off(http, off, redis_client, jobctl_env, job_type):
    client, auth = http(off)
    with nothing_written(redis_client, jobctl_env):
        reply = client.post("/api/jobs", json={"job": job_type, "data": {}}, headers=auth)
    assert reply.status_code == 400
    error = reply.json()["error"]
    refused(error["message"], job_type)
    assert f"{SETTING}=1" in error["hint"]


def test_http_enqueue_takes_them_when_on(http, redis_client):
    settings = settings_with(True)
    client, auth = http(settings)
    reply = client.post("/api/jobs", json={"job": "sleep", "data": {"seconds": 0}}, headers=auth)
    assert reply.status_code == 201
    assert waiting(redis_client, settings) == [reply.json()["job_id"]]


def test_http_schedule_refuses_a_test_only_type_when_off_and_takes_it_when_on(http, off, redis_client):
    body = {"name": "drill", "cron": "* * * * *", "job": "flaky", "data": {"counter": "/tmp/never"}}
    client, auth = http(off)
    reply = client.post("/api/jobs/schedule", json=body, headers=auth)
    assert reply.status_code == 400
    refused(reply.json()["error"]["message"], "flaky")
    assert not redis_client.hexists(keyspace.schedules(), "drill")
    client, auth = http(settings_with(True))
    assert client.post("/api/jobs/schedule", json=body, headers=auth).status_code == 201
    assert schedules.get_schedule(redis_client, "drill")["job_type"] == "flaky"


# --------------------------------------------------------------------------------------------
# Python API


def test_add_job_refuses_a_test_only_type_when_off(off, redis_client):
    with pytest.raises(UsageError) as caught:
        jobctl.add_job("fail", {"message": "drill"})
    refused(caught.value.message, "fail")
    assert SETTING in caught.value.hint
    assert waiting(redis_client, off) == []


def test_add_job_takes_them_when_on(redis_client):
    job_id = jobctl.add_job("fail", {"message": "drill"})
    assert waiting(redis_client, settings_with(True)) == [job_id]


# --------------------------------------------------------------------------------------------
# Shell completion (its own process, as the completion scripts run it)


def _complete(env_value: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != SETTING}
    if env_value is not None:
        env[SETTING] = env_value
    done = subprocess.run(
        [sys.executable, "-m", "jobctl", "__complete", "job-type"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == "", done
    return done.stdout.split()


def test_completion_offers_them_only_when_on():
    names = _complete(None)
    assert "noop" in names and not set(TEST_TYPES) & set(names)
    assert set(TEST_TYPES) <= set(_complete("1"))


# --------------------------------------------------------------------------------------------
# The web dashboard's queue page (its job-type search list)


def test_the_queue_page_offers_them_only_when_on(redis_client):
    from tests.web.test_pages import sign_in

    token = tokens.create_token(redis_client, settings_with(True), "viewer-web", "viewer")["token"]
    for enabled in (False, True):
        with TestClient(create_app(settings_with(enabled), redis_client), follow_redirects=False) as client:
            sign_in(client, token)
            page = client.get(f"/admin/jobs/queues/{QUEUE}").text
        assert '<option value="noop">' in page
        assert all((f'<option value="{t}">' in page) is enabled for t in TEST_TYPES), page


# --------------------------------------------------------------------------------------------
# A schedule stored while the setting was on, ticked with it off


def test_a_stored_test_only_schedule_is_skipped_not_fired_nor_an_error_when_off(redis_client, caplog):
    on, off = settings_with(True), settings_with(False)
    schedules.add_schedule(redis_client, on, "drill", "5 * * * *", job_type="fail", now=NOW)
    schedules.add_schedule(redis_client, on, "smoke", "5 * * * *", job_type="noop", now=NOW)
    caplog.set_level("WARNING", logger="jobctl.schedules")
    records = []
    for hour in range(2):
        records += schedules.tick(redis_client, off, datetime(2026, 5, 4, 12 + hour, 5, 1, tzinfo=UTC))
    drill = [r for r in records if r["name"] == "drill"]
    assert [r["action"] for r in drill] == ["test-only", "test-only"]
    refused(drill[0]["error"], "fail")
    assert [r["action"] for r in records if r["name"] == "smoke"] == ["fired", "fired"]
    assert waiting(redis_client, off) == [r["job_id"] for r in records if r["name"] == "smoke"]
    # kept, and its next run moved on: not retried every minute
    assert schedules.get_schedule(redis_client, "drill")["next_run_at"].startswith("2026-05-04T14:05")
    warnings = [r.getMessage() for r in caplog.records if "drill" in r.getMessage()]
    assert len(warnings) == 1 and SETTING in warnings[0]
    # with the setting on again it fires
    [record] = [
        r
        for r in schedules.tick(redis_client, on, datetime(2026, 5, 4, 14, 5, 1, tzinfo=UTC))
        if r["name"] == "drill"
    ]
    assert record["action"] == "fired"


def test_running_a_stored_test_only_schedule_now_is_refused_when_off(cli, off, redis_client):
    schedules.add_schedule(redis_client, settings_with(True), "drill", "5 * * * *", job_type="fail", now=NOW)
    result = cli("schedule", "run", "drill", code=2)
    refused(one_error(result.stderr), "fail")
    assert waiting(redis_client, off) == []


# --------------------------------------------------------------------------------------------
# Workers: a job queued while the setting was on, taken by a worker with it off


def test_a_worker_with_the_setting_off_dead_letters_a_queued_test_only_job_without_running_it(
    redis_client, tmp_path
):
    on, off = settings_with(True), settings_with(False)
    counter = tmp_path / "attempts"
    job_id = enqueue(redis_client, on, "flaky", {"counter": str(counter), "fail_times": 0})
    run_burst(redis_client, off)
    assert not counter.exists()  # not run
    entry = dlq.get_entry(redis_client, job_id)
    assert (entry["type"], entry["error_type"], entry["attempt_count"]) == ("flaky", "PermanentJobFailure", 1)
    assert entry["error_message"].startswith("job type 'flaky' is test-only and not enabled here: not run")
    assert f"{SETTING}=1" in entry["error_message"]

    # replayed where it is off: refused, it stays a dead letter
    result = dlq.replay(redis_client, off, [job_id])
    assert result["replayed"] == []
    [refusal] = result["refused"]
    assert refusal["id"] == job_id and "is test-only and not enabled here" in refusal["reason"]
    assert dlq.get_entry(redis_client, job_id)["job_id"] == job_id

    # replayed and run where it is on: it runs, once
    assert dlq.replay(redis_client, on, [job_id])["replayed"]
    run_burst(redis_client, on)
    assert counter.read_text() == "1"
