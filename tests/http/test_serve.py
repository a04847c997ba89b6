"""`jobctl serve`: its refusals, and the real server in a subprocess answering real HTTP."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import uvicorn

from jobctl.cli.serve import is_loopback
from jobctl.core import audit, keyspace, tokens
from jobctl.core.bulk import enqueue_many

EXTRA_LINE = "jobctl: error: the HTTP API needs the http extra: pip install 'jobctl[http]'\n"


@pytest.fixture
def no_binding(monkeypatch):
    """uvicorn.run records its arguments instead of binding a port."""
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    return calls


def test_without_the_http_extra_serve_says_how_to_install_it(cli, monkeypatch, no_binding):
    monkeypatch.setitem(sys.modules, "fastapi", None)  # what an install without the extra looks like
    for name in [m for m in sys.modules if m == "jobctl.http" or m.startswith("jobctl.http.")]:
        monkeypatch.delitem(sys.modules, name)
    result = cli("serve", code=2)
    assert result.stderr == EXTRA_LINE and not no_binding


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "api.example.com"])
def test_non_loopback_without_tokens_refuses_to_start(cli, host, no_binding):
    result = cli("serve", "--host", host, code=2)
    error, hint = result.stderr.splitlines()
    assert error.startswith(f"jobctl: error: refusing to serve on {host} with no API tokens")
    assert hint == "hint: jobctl token create NAME --role admin"
    assert not no_binding and "Traceback" not in result.stderr


def test_non_loopback_with_a_token_starts(cli, redis_client, settings, no_binding):
    tokens.create_token(redis_client, settings, "ops", "admin")
    result = cli("serve", "--host", "0.0.0.0", "--port", "9123")
    [(app, kwargs)] = no_binding
    assert (kwargs["host"], kwargs["port"]) == ("0.0.0.0", 9123)
    assert app.state.jobctl.loopback is False
    assert "anonymous" not in result.stderr and "http://0.0.0.0:9123" in result.stderr


def test_loopback_without_tokens_starts_read_only_and_says_so(cli, monkeypatch, no_binding):
    monkeypatch.setenv("JOBCTL_HTTP_PORT", "9124")
    result = cli("serve")
    [(app, kwargs)] = no_binding
    assert (kwargs["host"], kwargs["port"]) == ("127.0.0.1", 9124) and app.state.jobctl.loopback is True
    assert "redact" in kwargs["log_config"]["filters"]  # uvicorn's lines and jobctl's are redacted
    assert "no API tokens yet" in result.stderr and "anonymous" in result.stderr


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


# --- the real thing ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(url: str, method: str = "GET", token: str | None = None, data=None, headers=None):
    request = urllib.request.Request(url, method=method, data=data, headers=dict(headers or {}))
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _chunked_post(url: str, token: str, chunks: list[bytes]) -> tuple[int, bytes]:
    """POST `chunks` with Transfer-Encoding: chunked and return the answer.

    A server may answer 413 and close before the client has sent every chunk (valid HTTP); the
    client then meets a broken pipe while the answer already waits in its socket, so it reads it.
    A reset that lost the answer too is a race of the client's, not a server fault: tried again.
    """
    parts = urllib.parse.urlsplit(url)
    for _ in range(5):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            try:
                conn.request(
                    "POST",
                    parts.path,
                    body=iter(chunks),
                    encode_chunked=True,
                    headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                )
            except (BrokenPipeError, ConnectionResetError):
                pass
            response = conn.getresponse()
            return response.status, response.read()
        except (ConnectionResetError, http.client.RemoteDisconnected):
            continue
        finally:
            conn.close()
    pytest.fail("no answer to a chunked upload in 5 tries")


@pytest.fixture
def server(redis_url, jobctl_env, tmp_path):
    """`jobctl serve` on a free port, same Redis and key prefix as this test; stopped afterwards."""
    port = _free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "RQ_KEY_PREFIX": os.environ["RQ_KEY_PREFIX"],
        "JOBCTL_HOME": str(jobctl_env),
        "JOBCTL_HTTP_MAX_BODY": "2k",
        "JOBCTL_HTTP_READ_TIMEOUT": "1",
        "JOBCTL_LOG_LEVEL": "INFO",  # the access log is written at INFO
    }
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "jobctl"), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:  # wait until it answers (not a timing assertion: the deadline only bounds a broken start)
        try:
            if _request(f"{base}/healthz")[0] == 200:
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            pytest.fail(f"jobctl serve did not come up:\n{log.read()}")
        time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(timeout=15)
    log.close()


def test_the_real_server_over_http(server, redis_client, settings):
    # created after start: tokens are read from Redis per request, so a running server sees them
    viewer = tokens.create_token(redis_client, settings, "dash", "viewer")["token"]
    operator = tokens.create_token(redis_client, settings, "ci", "operator")["token"]
    enqueue_many(redis_client, settings, "noop", [{}] * 2, queue="email-sending")

    status, _, body = _request(f"{server}/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}

    status, headers, body = _request(f"{server}/api/jobs/stats")
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    assert json.loads(body)["error"]["code"] == "unauthorized"

    status, _, body = _request(f"{server}/api/jobs/queues/email-sending", token=viewer)
    assert status == 200 and json.loads(body)["totals"]["waiting"] == 2

    status, _, _ = _request(f"{server}/api/jobs/queues/email-sending/pause", "POST", token=viewer)
    assert status == 403 and not redis_client.sismember(keyspace.paused_queues(), "email-sending")

    status, _, body = _request(f"{server}/api/jobs/queues/email-sending/pause", "POST", token=operator)
    assert status == 200 and json.loads(body) == {"queue": "email-sending", "paused": True, "changed": True}
    assert redis_client.sismember(keyspace.paused_queues(), "email-sending")
    [entry] = audit.list_entries(redis_client, action="queue.pause")
    assert (entry["actor"], entry["face"]) == ("ci", "http")

    status, headers, body = _request(f"{server}/metrics", token=viewer)
    assert status == 200 and headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert b"jobctl_queue_jobs{" in body


def test_the_real_server_limits_chunked_bodies(server, redis_client, settings):
    operator = tokens.create_token(redis_client, settings, "ci", "operator")["token"]
    body = json.dumps({"job_ids": [f"job-{i:05d}" for i in range(300)]}).encode()
    assert len(body) > 2048
    status, reply = _chunked_post(
        f"{server}/api/jobs/retry", operator, [body[i : i + 512] for i in range(0, len(body), 512)]
    )
    assert status == 413 and json.loads(reply)["error"]["code"] == "too_large"
    status, _, reply = _request(
        f"{server}/api/jobs/retry",
        "POST",
        token=operator,
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert status == 413
    assert not audit.list_entries(redis_client, action="job.retry")


def _log_once_it_shows(path: Path, needle: str) -> str:
    """The server's log once `needle` is in it (a request is logged just after its answer is sent)."""
    deadline = time.monotonic() + 10
    while needle not in (text := path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return text


def test_the_access_log_masks_a_token_sent_in_the_url(server, redis_client, settings, tmp_path):
    secret = tokens.create_token(redis_client, settings, "dash", "viewer")["token"]
    for query in (f"access_token={secret}", f"queue=email-sending&token={secret}", f"api_key={secret}"):
        status, _, body = _request(f"{server}/api/jobs/stats?{query}")
        assert status == 401 and json.loads(body)["error"]["code"] == "unauthorized"  # never accepted there
    log = _log_once_it_shows(tmp_path / "serve.log", "api_key=")
    assert "GET /api/jobs/stats?access_token=" in log and "queue=email-sending&token=" in log
    assert secret not in log and secret[4:12] not in log


def _raw_post(base: str, content_length: int, sent: bytes) -> socket.socket:
    """A connection that has sent a POST's headers and the first bytes of its body."""
    parts = urllib.parse.urlsplit(base)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(
        b"POST /api/jobs/retry HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {content_length}\r\n\r\n".encode()
        + sent
    )
    return sock


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_body_shorter_than_its_content_length_gets_408_and_the_connection_closed(server):
    # the server has JOBCTL_HTTP_READ_TIMEOUT=1; the bounds below leave room for a busy machine
    started = time.monotonic()
    with _raw_post(server, 100, b'{"job_ids": ') as short:
        # meanwhile the server answers everyone else
        assert _request(f"{server}/healthz")[0] == 200
        answer = _answer(short)
    elapsed = time.monotonic() - started
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout" and "JOBCTL_HTTP_READ_TIMEOUT" in error["hint"]
    assert 0.9 <= elapsed < 5, elapsed


def test_a_trickled_body_is_cut_off_at_the_read_timeout_too(server):
    started = time.monotonic()
    with _raw_post(server, 100, b"{") as trickle:
        trickle.settimeout(0.2)
        answer = None
        while answer is None and time.monotonic() - started < 10:  # a byte every 0.2 s: never idle long
            try:
                trickle.sendall(b" ")
                answer = trickle.recv(65536)  # b"": closed
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                # closed with our latest byte unread, so the kernel resets the connection and may drop
                # the 408 before we read it: closed all the same
                answer = b""
        elapsed = time.monotonic() - started
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), answer
    assert 0.9 <= elapsed < 5, elapsed
