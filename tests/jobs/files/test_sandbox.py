"""The sandbox: a child per call with a memory ceiling and a time limit; the caller survives all of it."""

from __future__ import annotations

import os
import time

import pytest

from jobctl.jobs.files.sandbox import SandboxFailure, run_isolated

TARGETS = "tests.jobs.files.sandbox_targets"
MB = 1024 * 1024


def run(name: str, time_limit: float = 10, memory_limit: int = 512 * MB, **kwargs):
    return run_isolated(f"{TARGETS}.{name}", kwargs, time_limit=time_limit, memory_limit=memory_limit)


def test_result_comes_back_as_json_from_another_process():
    result = run("echo", value={"a": [1, 2]})
    assert result["value"] == {"a": [1, 2]}
    assert result["pid"] != os.getpid()


def test_each_call_gets_a_fresh_process():
    assert run("echo", value=1)["pid"] != run("echo", value=2)["pid"]


def test_memory_ceiling_stops_the_child_not_the_caller():
    with pytest.raises(SandboxFailure) as info:
        run("allocate", memory_limit=256 * MB, megabytes=600)
    assert info.value.kind == "memory"
    assert run("allocate", memory_limit=256 * MB, megabytes=16) == 16 * MB  # the next call is fine


def test_time_limit_kills_a_child_that_waits_too_long():
    started = time.monotonic()
    with pytest.raises(SandboxFailure) as info:
        run("sleep", time_limit=0.5, seconds=30)
    assert info.value.kind == "timeout"
    assert "0.5 s" in info.value.message
    assert time.monotonic() - started < 5


def test_cpu_limit_backs_up_the_wait():
    with pytest.raises(SandboxFailure) as info:
        run("spin", time_limit=1, seconds=30)
    assert info.value.kind == "timeout"


def test_a_crash_is_reported_with_its_signal():
    with pytest.raises(SandboxFailure) as info:
        run("crash")
    assert info.value.kind == "crashed"
    assert "SIGSEGV" in info.value.message
    assert run("echo", value="after")["value"] == "after"


def test_exceptions_carry_their_class_and_reason():
    with pytest.raises(SandboxFailure) as info:
        run("refuse", reason="no good")
    assert (info.value.kind, info.value.message) == ("Rejected", "no good")
