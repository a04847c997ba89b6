"""Encryption across real processes: the CLI encrypts, a worker process decrypts and delivers, a
`jobctl serve` process shows the job redacted, and a worker without the key leaves the job alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from jobctl.core import runtime, tokens
from jobctl.core.payloads import generate_key
from jobctl.core.stats import queue_stats
from tests.e2e.conftest import free_port, wait_for
from tests.encryption import everything_stored

pytestmark = pytest.mark.e2e
ADDRESS = "ada.lovelace@example.com"


def jobctl(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def get_json(url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_encrypted_email_through_real_processes(procs, smtp_server, monkeypatch, redis_client):
    monkeypatch.setenv("JOBCTL_ENCRYPTION_KEYS", generate_key())
    for name, value in {
        "EMAIL_PROVIDER": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_server.port),
        "SMTP_USER": smtp_server.credentials[0],
        "SMTP_PASSWORD": smtp_server.credentials[1],
        "JOBCTL_SMTP_SECURITY": "none",
    }.items():
        monkeypatch.setenv(name, value)
    runtime.reset()  # this process reads the same keys as the processes it starts
    settings = runtime.settings()

    sent = jobctl(
        "enqueue",
        "email",
        "--to",
        ADDRESS,
        "--template",
        "welcome",
        "--data",
        "name=Ada",
        "--data",
        "login_url=https://shop.example.com/login",
        "--json",
    )
    assert sent.returncode == 0, sent.stderr
    job_id = json.loads(sent.stdout)["job_id"]
    assert ADDRESS.encode() not in everything_stored(redis_client)  # enqueued: nothing readable at rest

    # a worker without the key takes the job, cannot open it, puts it back and stops (exit 2)
    keyless = procs.jobctl(
        "worker", "start", "--queue", "email-sending", "--burst", env={"JOBCTL_ENCRYPTION_KEYS": ""}
    )
    out, _ = keyless.communicate(timeout=60)
    assert keyless.returncode == 2, out
    assert "JOBCTL_ENCRYPTION_KEYS" in out and "Traceback" not in out
    assert queue_stats(redis_client, settings, "email-sending")["queues"][0]["totals"]["waiting"] == 1
    assert smtp_server.handler.messages == []

    worker = procs.jobctl("worker", "start", "--queue", "email-sending", "--burst")
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, out
    [delivered] = smtp_server.handler.messages
    assert delivered["rcpt_tos"] == [ADDRESS]  # the worker process decrypted the address
    stored = everything_stored(redis_client)
    assert ADDRESS.encode() not in stored and b"lovelace" not in stored  # the result is sealed too

    port = free_port()
    procs.jobctl("serve", "--port", str(port))
    token = tokens.create_token(redis_client, settings, "e2e", "viewer")["token"]
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return urllib.request.urlopen(f"{base}/healthz", timeout=2).status == 200
        except OSError:
            return False

    wait_for(up, timeout=30, what="jobctl serve answering")
    shown = get_json(f"{base}/api/jobs/{job_id}", token)
    assert shown["status"] == "finished" and shown["payload"]["to"] == ["a***@example.com"]
    assert "lovelace" not in json.dumps(shown)
