"""Functions the sandbox tests run in a child process (they must be importable by path)."""

from __future__ import annotations

import os
import signal
import time


def echo(value):
    return {"value": value, "pid": os.getpid()}


def allocate(megabytes: int) -> int:
    block = bytearray(megabytes * 1024 * 1024)
    return len(block)


def spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def crash() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def refuse(reason: str) -> None:
    class Rejected(Exception):
        def __init__(self, reason):
            super().__init__(reason)
            self.reason = reason

    raise Rejected(reason)
