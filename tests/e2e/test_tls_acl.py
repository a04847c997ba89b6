"""Every face over TLS (rediss://, a client certificate required) and as an ACL user that has exactly
the ACL the README documents (jobctl.core.keyspace.acl_rule): real worker and scheduler processes on
private servers on free loopback ports, stopped at the end."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from rq.job import Job

from jobctl.config import load_settings
from jobctl.core import dlq, keyspace, runtime
from jobctl.core.bulk import enqueue
from jobctl.core.connection import connect
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.scheduler import scheduler_status
from jobctl.core.stats import queue_stats
from jobctl.http.app import create_app
from jobctl.tui.data import read_main
from tests.conftest import KEY_PREFIX
from tests.e2e.conftest import wait_for
from tests.redis_tls import ACL_PASSWORD, acl_server, admin, make_pki, tls_server

pytestmark = pytest.mark.e2e

FAST = {"JOBCTL_HEARTBEAT_INTERVAL": "1", "JOBCTL_MAINTENANCE_INTERVAL": "1", "JOBCTL_SCHEDULER_LEASE": "2"}


def jobctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobctl", *args], capture_output=True, text=True, timeout=60)


def one_error(result: subprocess.CompletedProcess, logged: int = 0) -> list[str]:
    """stderr as jobctl's error shape: `logged` log lines, one error line, one hint line, nothing else."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 + logged, result.stderr
    lines = lines[logged:]
    assert lines[0].startswith("jobctl: error: ") and lines[1].startswith("hint: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines


def status(conn, job_id: str) -> str | None:
    found = Job.fetch_many([job_id], connection=conn, serializer=PayloadSerializer)[0]
    return found.get_status() if found else None


def use(monkeypatch, env: dict[str, str]):
    for key, value in {**FAST, **env}.items():
        monkeypatch.setenv(key, value)
    runtime.reset()  # the in-process CLI keeps one connection per settings: read the new ones
    settings = load_settings()
    return settings, connect(settings)


def run_scheduler_lease(procs, conn) -> None:
    """A scheduler takes the lease, renews it, and hands it back on SIGTERM."""
    scheduler = procs.jobctl("scheduler", "start")
    holder = wait_for(lambda: scheduler_status(conn)["active"], timeout=20, what="the scheduler's lease")
    assert holder.split(":")[1] == str(scheduler.pid)
    scheduler.send_signal(signal.SIGTERM)
    scheduler.wait(20)
    assert scheduler_status(conn)["active"] is None


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path / "pki")


@pytest.fixture
def mtls(tmp_path, pki):
    server = tls_server(tmp_path / "mtls", pki, require_client_cert=True)
    yield server
    server.stop()


def test_every_face_over_tls_with_a_client_certificate(procs, cli, monkeypatch, mtls, pki):
    settings, conn = use(
        monkeypatch,
        {
            "REDIS_URL": f"rediss://127.0.0.1:{mtls.port}/0",
            "JOBCTL_REDIS_CA_FILE": str(pki.ca),
            "JOBCTL_REDIS_CERT_FILE": str(pki.client_cert),
            "JOBCTL_REDIS_KEY_FILE": str(pki.client_key),
        },
    )
    assert cli.json("enqueue", "noop", "--queue", "file-processing", "--count", "5")
    worker = procs.jobctl("worker", "start", "--queue", "file-processing", "--burst")
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, out
    stats = cli.json("stats")
    (files,) = [q for q in stats["queues"] if q["queue"] == "file-processing"]
    assert files["totals"]["completed"] == 5 and files["totals"]["waiting"] == 0
    run_scheduler_lease(procs, conn)
    dash = read_main(conn, settings)  # what the dash shows, read over the same TLS connection
    assert {q["queue"] for q in dash["stats"]["queues"]} >= {"file-processing"}
    with TestClient(create_app(settings)) as http:  # serve's app connects by itself
        assert http.get("/healthz").json() == {"status": "ok"}
    conn.close()


def test_tls_refusals_are_one_line_and_exit_3(monkeypatch, mtls, pki):
    url = f"rediss://jobctl:hunter2-secret@127.0.0.1:{mtls.port}/0"
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setenv("JOBCTL_REDIS_CA_FILE", str(pki.other_ca))
    unknown_ca = jobctl("stats")
    assert unknown_ca.returncode == 3
    error, hint = one_error(unknown_ca)
    assert "CERTIFICATE_VERIFY_FAILED" in error and "JOBCTL_REDIS_CA_FILE" in hint
    assert "hunter2-secret" not in unknown_ca.stderr and "rediss://jobctl:" in error
    monkeypatch.setenv("JOBCTL_REDIS_CA_FILE", str(pki.ca))  # right CA, no client certificate
    monkeypatch.setenv("JOBCTL_REDIS_WAIT", "0")  # a burst worker's wait for Redis, here not worth it
    no_cert = jobctl("worker", "start", "--queue", "file-processing", "--burst")
    assert no_cert.returncode == 3
    # the worker logs the outage as it starts, then ends with jobctl's error shape
    assert "JOBCTL_REDIS_CERT_FILE" in one_error(no_cert, logged=1)[1]
    shown = jobctl("config", "show", "--json")
    assert shown.returncode == 0 and "hunter2-secret" not in shown.stdout + shown.stderr


@pytest.fixture
def acl(tmp_path):
    server = acl_server(tmp_path / "acl", keyspace.acl_rule("jobctl", ACL_PASSWORD, KEY_PREFIX))
    yield server
    server.stop()


def test_a_full_job_flow_as_an_acl_user_with_the_documented_acl(procs, cli, monkeypatch, tmp_path, acl):
    settings, conn = use(monkeypatch, {"REDIS_URL": f"redis://jobctl:{ACL_PASSWORD}@127.0.0.1:{acl.port}/0"})
    (tmp_path / "jobctl.toml").write_text(
        "[queues.referral-commission]\nattempts = 2\n[queues.referral-commission.backoff]\ndelays = [1]\n"
    )
    settings = load_settings()
    counter = str(tmp_path / "counter")
    job_id = enqueue(
        conn, settings, "flaky", {"counter": counter, "fail_times": 2}, queue="referral-commission"
    )
    cli.json("enqueue", "noop", "--queue", "file-processing", "--count", "3")
    worker = procs.jobctl("worker", "start", "--queue", "referral-commission", "--queue", "file-processing")
    # two attempts (a retry after 1 s), both failed: a dead letter; then a replay that succeeds
    wait_for(lambda: dlq.read_entry(conn, job_id), timeout=30, what="the dead-letter entry")
    assert [e["job_id"] for e in cli.json("dlq", "list")["entries"]] == [job_id]
    assert cli.json("dlq", "retry", job_id)["replayed"] == [job_id]
    wait_for(lambda: status(conn, job_id) == "finished", timeout=30, what="the replay to complete")
    stats = queue_stats(conn, settings)
    by_queue = {q["queue"]: q["totals"] for q in stats["queues"]}
    assert by_queue["file-processing"]["completed"] == 3
    assert by_queue["referral-commission"]["completed"] == 1 and stats["dead_letter"] == 0
    assert cli.json("stats")["dead_letter"] == 0
    assert len(cli.json("worker", "list")["workers"]) == 1
    run_scheduler_lease(procs, conn)
    cli("enqueue", "noop", "--queue", "weekly-reports", "--count", "4")  # no worker takes it
    assert cli.json("clear", "weekly-reports", "--yes")["removed"] == {"waiting": 4}
    assert queue_stats(conn, settings, "weekly-reports")["queues"][0]["totals"]["waiting"] == 0
    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=30)
    assert "NOPERM" not in out and "Traceback" not in out, out
    refused = admin(acl).acl_log()
    assert refused == [], refused  # nothing jobctl sent was refused, not even what RQ would swallow


def test_a_user_without_eval_gets_one_line(monkeypatch, tmp_path):
    server = acl_server(
        tmp_path / "acl", keyspace.acl_rule("jobctl", ACL_PASSWORD, KEY_PREFIX) + " -eval -evalsha"
    )
    try:
        monkeypatch.setenv("REDIS_URL", f"redis://jobctl:{ACL_PASSWORD}@127.0.0.1:{server.port}/0")
        result = jobctl("enqueue", "noop", "--queue", "file-processing")
        assert result.returncode == 1
        error, hint = one_error(result)
        assert "no permissions to run the 'evalsha' command" in error and "ACL" in hint
        assert ACL_PASSWORD not in result.stderr
        worker = jobctl("worker", "start", "--queue", "file-processing", "--burst")
        assert worker.returncode == 1
        error, hint = one_error(worker, logged=1)  # after its "started" log line
        assert "'evalsha'" in error and "ACL" in hint
    finally:
        server.stop()


def test_the_http_api_names_a_missing_permission(monkeypatch, tmp_path):
    server = acl_server(tmp_path / "acl", keyspace.acl_rule("jobctl", ACL_PASSWORD, KEY_PREFIX) + " -zcard")
    try:
        settings, conn = use(
            monkeypatch, {"REDIS_URL": f"redis://jobctl:{ACL_PASSWORD}@127.0.0.1:{server.port}/0"}
        )
        with TestClient(create_app(settings, loopback=True)) as http:  # no token stored: reads allowed
            assert http.get("/healthz").json() == {"status": "ok"}
            answer = http.get("/api/jobs/stats")
        assert answer.status_code == 503
        error = answer.json()["error"]
        assert error["code"] == "redis_permission" and "'zcard'" in error["message"]
        assert "ACL" in error["hint"] and ACL_PASSWORD not in answer.text
        conn.close()
    finally:
        server.stop()
