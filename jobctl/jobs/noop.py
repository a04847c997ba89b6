"""Jobs that do (almost) nothing: for benchmarks, smoke tests and failure drills."""

from __future__ import annotations

import time

from jobctl.errors import PermanentJobFailure


def noop(payload: dict | None = None) -> dict:
    return {"ok": True}


def sleep(payload: dict) -> dict:
    time.sleep(float(payload.get("seconds", 1)))
    return {"slept": payload.get("seconds", 1)}


def fail(payload: dict | None = None) -> None:
    raise PermanentJobFailure((payload or {}).get("message", "this job always fails"))
