"""A Redis at its maxmemory (noeviction): one clear error on every face, whole jobs or none, nothing lost.

Each test runs its own server on a free port and fills it by lowering maxmemory below what it holds.
"""

from __future__ import annotations

import pytest
import redis
from fastapi.testclient import TestClient

from jobctl.config import load_settings
from jobctl.core import embedded, runtime, tokens
from jobctl.core.keyspace import job_key_prefix
from jobctl.core.lifecycle import PhysicalQueue
from jobctl.core.submit import submit_many
from jobctl.core.worker import JobctlWorker, physical_queue_names
from jobctl.errors import ExitCode
from jobctl.http import create_app

pytestmark = pytest.mark.e2e
QUEUE = PhysicalQueue.of("email-sending:normal").queue
FULL_MARGIN = 64 * 1024  # bytes below what the server holds when `fill` makes it full


@pytest.fixture
def server(own_redis, monkeypatch):
    """The test's own server, noeviction, as REDIS_URL; `fill(room)` leaves about `room` bytes free."""
    own_redis.start()
    client = redis.Redis(port=own_redis.port)
    client.config_set("maxmemory-policy", "noeviction")
    monkeypatch.setenv("REDIS_URL", own_redis.url)
    runtime.reset()

    def fill(room: int = 0) -> None:
        # Idle clients' query buffers (a 1 MB batch) are freed later by the server's cron, which would
        # open room after the fact; close them first and keep a margin, so "full" stays full.
        client.client_kill_filter(_type="normal", skipme=True)
        used = client.info("memory")["used_memory"]
        client.config_set("maxmemory", str(max(1, used + room - FULL_MARGIN)))

    client.fill = fill
    yield client
    client.config_set("maxmemory", "0")
    client.close()


def _job_hashes(client) -> int:
    return sum(1 for _ in client.scan_iter(match=f"{job_key_prefix()}*", count=1000))


def test_enqueue_refused_mid_call_leaves_whole_batches(server, cli):
    server.fill(room=2 * 1024**2)  # room for a few batches of 1,000, not for 20,000 jobs
    result = cli("enqueue", "noop", "--count", "20000", code=ExitCode.FAILED)
    message, hint = result.stderr.splitlines()
    assert message.startswith("jobctl: error: the Redis server is full (maxmemory ")
    assert hint.startswith("hint: running workers still drain it;")
    queued = server.llen(QUEUE)
    assert queued and queued % 1000 == 0 and f"{queued:,} of 20,000 jobs were queued" in message
    assert _job_hashes(server) == queued  # no job hash without its queue entry


def test_nothing_queued_on_a_full_server(server, cli):
    server.fill()
    data = cli.json("enqueue", "noop", "--count", "5", "--in", "1h", code=ExitCode.FAILED)
    assert data["error"]["code"] == "server_full"
    assert data["error"]["message"].endswith("none of the 5 jobs was queued")
    assert _job_hashes(server) == 0


def test_http_answers_503_with_a_hint(server):
    settings = load_settings()
    token = tokens.create_token(server, settings, "ops", "operator")["token"]
    server.fill()
    with TestClient(create_app(settings, server)) as client:
        answer = client.post("/api/jobs", json={"job": "noop"}, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "server_full" and "maxmemory" in error["hint"]
    assert _job_hashes(server) == 0


def test_a_running_worker_finishes_its_jobs_on_a_full_server(server):
    settings = load_settings()
    runtime.install(settings, server)
    ids = submit_many(server, settings, "noop", [{}] * 3, queue="email-sending")
    worker = JobctlWorker(
        physical_queue_names(settings, ["email-sending"]), connection=server, settings=settings
    )
    run = worker._run

    def run_on_a_full_server(claim):
        server.fill()  # it fills up while the worker holds the jobs
        return run(claim)

    worker._run = run_on_a_full_server
    assert worker.work(burst=True) == 3
    # the outcome script's first write (taking the claim back) frees memory, so it runs whole
    assert [server.hget(job_key_prefix() + i, "status") for i in ids] == [b"finished"] * 3


def test_a_burst_worker_cannot_register_on_a_full_server_and_gives_up(server, cli, monkeypatch):
    submit_many(server, load_settings(), "noop", [{}] * 2, queue="email-sending")
    server.fill()
    monkeypatch.setenv("JOBCTL_REDIS_WAIT", "1s")
    result = cli("worker", "start", "--queue", "email-sending", "--burst", code=ExitCode.FAILED)
    assert "jobctl: error: burst worker gave up after 1 s: Redis is full" in result.stderr
    assert _job_hashes(server) == 2  # still queued, untouched


def test_the_embedded_server_starts_with_maxmemory_and_noeviction(tmp_path):
    home = tmp_path / "own-home"
    socket = embedded.ensure_running(home, maxmemory=64 * 1024**2)
    try:
        client = redis.Redis(unix_socket_path=str(socket))
        assert client.config_get("maxmemory") == {"maxmemory": str(64 * 1024**2)}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        client.close()
    finally:
        embedded.stop(home)


def test_clearing_a_queue_makes_room_again(server, cli):
    cli("enqueue", "noop", "--count", "3000")
    server.fill()
    cli("enqueue", "noop", code=ExitCode.FAILED)
    cli("clear", "email-sending", "--yes")  # deleting frees memory, so its audit entry fits again
    assert server.llen(QUEUE) == 0
    cli("enqueue", "noop")
    assert server.llen(QUEUE) == 1


def test_server_start_gives_a_running_server_the_current_limit(cli, monkeypatch):
    monkeypatch.setenv("JOBCTL_EMBEDDED_MAXMEMORY", "64m")
    try:
        started = cli.json("server", "start")
        assert started["maxmemory"] == 64 * 1024**2
        monkeypatch.setenv("JOBCTL_EMBEDDED_MAXMEMORY", "32mb")
        again = cli.json("server", "start")
        assert again["pid"] == started["pid"] and again["maxmemory"] == 32 * 1024**2  # no restart
        assert "maxmemory: 33,554,432 bytes" in cli("server", "status").stdout
    finally:
        cli("server", "stop")
