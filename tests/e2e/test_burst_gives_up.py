"""Workers and an unreachable Redis: a burst worker gives up after JOBCTL_REDIS_WAIT (exit 3, one line and
a hint); a long-running one waits as long as it takes and logs the outage once, not per retry.

Each test runs its own server on a free port and stops it.
"""

from __future__ import annotations

import signal
import time

import pytest
import redis

from jobctl.config import load_settings
from jobctl.core.keyspace import job_key_prefix
from jobctl.core.submit import submit_many
from jobctl.errors import ExitCode
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def gone(own_redis, monkeypatch):
    """The URL of a server that was running and has been stopped."""
    own_redis.start()
    own_redis.kill()
    monkeypatch.setenv("REDIS_URL", own_redis.url)
    return own_redis.url


def _error_lines(output: str) -> list[str]:
    """What the CLI itself said at the end (log lines come before it)."""
    lines = output.splitlines()
    return lines[-2:]


@pytest.mark.parametrize("command", [["worker", "start", "--queue", "email-sending"], ["workers", "start"]])
def test_a_burst_worker_gives_up_with_exit_3(procs, gone, command):
    started = time.monotonic()
    worker = procs.jobctl(*command, "--burst", env={"JOBCTL_REDIS_WAIT": "2s"})
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == ExitCode.UNREACHABLE, out
    assert time.monotonic() - started < 30  # about 2 s of waiting and the start-up
    message, hint = _error_lines(out)
    assert message.startswith("jobctl: error: burst worker") and "gave up" in message, out
    assert hint.startswith("hint: ") and "JOBCTL_REDIS_WAIT" in hint, out
    assert "Traceback" not in out
    assert out.count("waiting for it") == max(1, out.count("started worker process")), out  # once each


def test_a_long_running_worker_waits_and_logs_the_outage_once(procs, own_redis, monkeypatch):
    own_redis.start()
    monkeypatch.setenv("REDIS_URL", own_redis.url)
    client = redis.Redis(port=own_redis.port)
    # JOBCTL_REDIS_WAIT is for burst workers: this one ignores it
    worker = procs.jobctl("worker", "start", "--queue", "email-sending", env={"JOBCTL_REDIS_WAIT": "1s"})
    wait_for(lambda: client.keys("*:worker:*"), what="the worker to register")
    own_redis.kill()
    time.sleep(8)  # several retries: 0.5 + 1 + 2 + 4 s
    assert worker.poll() is None, "a long-running worker must not give up"
    own_redis.start()
    [job_id] = submit_many(client, load_settings(), "noop", [{}], queue="email-sending")
    wait_for(lambda: client.hget(job_key_prefix() + job_id, "status") == b"finished", timeout=60)
    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, out
    assert out.count("waiting for it") == 1, out
    assert "Redis is back after" in out
    assert "Traceback" not in out
