"""Jobs that do (almost) nothing: for benchmarks, smoke tests and failure drills."""

from __future__ import annotations

import time
from pathlib import Path

from jobctl.core.contracts import ANY_KEYS, SCHEDULER_KEYS, BuildContext, Contract, Field
from jobctl.errors import PermanentJobFailure, TransientJobFailure, UsageError


def noop(payload: dict | None = None) -> dict:
    return {"ok": True}


def sleep(payload: dict) -> dict:
    # in short slices: a cancel reaches a job on a worker's thread pool between two of them
    deadline = time.monotonic() + float(payload.get("seconds", 1))
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.1))
    return {"slept": payload.get("seconds", 1)}


def fail(payload: dict | None = None) -> None:
    """Fail for good; with "unexpected", the way a bug would (a RuntimeError rather than a JobFailure)."""
    payload = payload or {}
    message = payload.get("message", "this job always fails")
    if payload.get("unexpected"):
        raise RuntimeError(message)
    raise PermanentJobFailure(message)


def flaky(payload: dict) -> dict:
    """Fail transiently `fail_times` times, then succeed; counts attempts in the file `counter`."""
    counter = Path(payload["counter"])
    attempt = int(counter.read_text() or 0) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    if attempt <= int(payload.get("fail_times", 1)):
        raise TransientJobFailure(f"flaky failure {attempt} of {payload.get('fail_times', 1)}")
    return {"attempt": attempt}


def _contract(job_type: str, *fields: Field, check=None, any_keys: bool = False) -> Contract:
    """A test job's contract: its fields, type-checked by `check`, carried as they are."""
    names = {f.name for f in fields}

    def load(payload):
        payload = {} if payload is None else payload
        if not isinstance(payload, dict) or (not any_keys and set(payload) - names - set(SCHEDULER_KEYS)):
            raise UsageError(
                f"bad {job_type} payload {payload!r}", f"{job_type} fields: {', '.join(names) or '(none)'}"
            )
        if check:
            check(payload)
        return payload

    def build(_settings, given: dict, _context: BuildContext) -> dict:
        return load(dict(given))

    return Contract(
        job_type,
        fields,
        build=build,
        load=load,
        describe=lambda _payload: job_type,
        extra=ANY_KEYS if any_keys else None,
    )


def _bounded(name: str, maximum: int):
    """The test jobs' one number: 0..maximum (a drill that sleeps or fails forever is a typo)."""

    def check(payload: dict) -> None:
        value = payload.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= maximum
        ):
            raise UsageError(f"{name} must be a number from 0 to {maximum}, got {value!r}", f"e.g. {name}=1")

    return check


NOOP = _contract("noop", any_keys=True)
SLEEP = _contract(
    "sleep", Field("seconds", "number", False, "how long (default 1)"), check=_bounded("seconds", 86_400)
)
# a failure drill carries whatever it is given (the redaction and encryption tests give it personal data)
FAIL = _contract(
    "fail",
    Field("message", "text", False, "the failure's message"),
    Field("unexpected", "bool", False, "raise a RuntimeError, as a bug would, instead of a job failure"),
    any_keys=True,
)
FLAKY = _contract(
    "flaky",
    Field("counter", "text", True, "a file counting attempts"),
    Field("fail_times", "int", False, "transient failures before success (default 1)"),
    check=_bounded("fail_times", 1000),
)
