"""Jobs that do (almost) nothing: for benchmarks, smoke tests and failure drills."""

from __future__ import annotations

import time
from pathlib import Path

from jobctl.errors import PermanentJobFailure, TransientJobFailure


def noop(payload: dict | None = None) -> dict:
    return {"ok": True}


def sleep(payload: dict) -> dict:
    # in short slices: a cancel reaches a job on a worker's thread pool between two of them
    deadline = time.monotonic() + float(payload.get("seconds", 1))
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.1))
    return {"slept": payload.get("seconds", 1)}


def fail(payload: dict | None = None) -> None:
    raise PermanentJobFailure((payload or {}).get("message", "this job always fails"))


def flaky(payload: dict) -> dict:
    """Fail transiently `fail_times` times, then succeed; counts attempts in the file `counter`."""
    counter = Path(payload["counter"])
    attempt = int(counter.read_text() or 0) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    if attempt <= int(payload.get("fail_times", 1)):
        raise TransientJobFailure(f"flaky failure {attempt} of {payload.get('fail_times', 1)}")
    return {"attempt": attempt}
