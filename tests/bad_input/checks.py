"""What every bad-input case asserts, whatever face it came through: one error line and one hint,
no traceback, and nothing written (the Redis keys under the test's prefix and the files in the
state folder are the same after as before). The one write allowed is the audit log's record of a
refused change (outcome "failed"): recording refusals is what that log is for."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

PREFIX = os.environ["RQ_KEY_PREFIX"]  # set by tests/conftest.py before anything imports rq
AUDIT = f"{PREFIX}:jobctl:audit".encode()  # jobctl.core.audit.stream_key()
SIZES = {
    "list": "llen",
    "zset": "zcard",
    "hash": "hlen",
    "set": "scard",
    "stream": "xlen",
    "string": "strlen",
}


def redis_state(client: redis.Redis) -> dict[bytes, tuple[bytes, int]]:
    """Every key under the prefix with its type and size: a queued job or a changed count shows."""
    state = {}
    for key in client.scan_iter(match=f"{PREFIX}:*", count=1000):
        if key == AUDIT:
            continue
        kind = client.type(key)
        state[key] = (kind, getattr(client, SIZES[kind.decode()])(key) if kind.decode() in SIZES else 0)
    return state


def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*")) if folder.exists() else set()


@contextmanager
def nothing_written(client: redis.Redis, home: Path) -> Iterator[None]:
    keys, files = redis_state(client), files_under(home)
    last_audit = (client.xrevrange(AUDIT, count=1) or [(b"0-0", {})])[0][0]
    yield
    recorded = client.xrange(AUDIT, min=b"(" + last_audit)
    assert all(fields[b"outcome"] == b"failed" for _, fields in recorded), recorded
    after = redis_state(client)
    changed = sorted(k for k in keys.keys() | after.keys() if keys.get(k) != after.get(k))
    assert not changed, f"a refused input changed Redis: {changed}"
    assert files_under(home) == files, (
        f"a refused input wrote to the state folder: {files_under(home) - files}"
    )


def one_error(stderr: str) -> str:
    """stderr is `jobctl: error: <one line>` and `hint: <one line>`; returns the message."""
    lines = stderr.splitlines()
    assert len(lines) == 2, stderr
    assert lines[0].startswith("jobctl: error: ") and len(lines[0]) > len("jobctl: error: "), stderr
    assert lines[1].startswith("hint: ") and len(lines[1]) > len("hint: "), stderr
    assert "Traceback" not in stderr
    return lines[0].removeprefix("jobctl: error: ")


def one_http_error(response, status: int) -> str:
    """The API's one error shape with a one-line message and a hint; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "hint"}, body
    error = body["error"]
    assert error["message"] and "\n" not in error["message"], body
    assert error["hint"], body
    assert "Traceback" not in response.text
    return error["message"]
