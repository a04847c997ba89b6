"""Run risky work (decoding untrusted images) in a throwaway child with a memory ceiling and a time limit.

jobctl workers run jobs in their own process, so a decoder that balloons, spins or crashes on a
hostile file would take the worker, and the next job, with it. Here each call gets a fresh child
forked from a forkserver (a clean single-threaded process that preloaded the decoding modules, so a
fork costs milliseconds, and no worker thread or lock is inherited). The child lowers its own
RLIMIT_AS and RLIMIT_CPU, and arms an alarm in case the worker dies and nobody is waiting; the
worker waits at most the time limit and kills it. Arguments and results cross as JSON.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import resource
import signal
from typing import Any

_contexts: dict[tuple[str, ...], Any] = {}


class SandboxFailure(Exception):
    """The child did not return a result: what happened, in a line."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind  # "timeout" | "memory" | "crashed" | "error" | the child's exception class
        self.message = message


def _context(preload: tuple[str, ...]):
    if preload not in _contexts:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(preload))
        _contexts[preload] = context
    return _contexts[preload]


def _child(conn, func_path: str, kwargs_json: str, memory_limit: int, time_limit: float) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    cpu = int(time_limit) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    signal.alarm(int(time_limit) + 5)  # SIGALRM's default action ends the child even inside C code
    module, _, name = func_path.rpartition(".")
    try:
        outcome = {"ok": getattr(importlib.import_module(module), name)(**json.loads(kwargs_json))}
    except MemoryError:
        outcome = {"kind": "memory", "message": "ran out of memory"}
    except Exception as exc:  # reported to the worker, which decides what it means
        outcome = {"kind": type(exc).__name__, "message": getattr(exc, "reason", None) or str(exc)}
    conn.send_bytes(json.dumps(outcome).encode())
    conn.close()


def _signal_name(exitcode: int | None) -> str:
    try:
        return signal.Signals(-exitcode).name if exitcode and exitcode < 0 else f"exit code {exitcode}"
    except ValueError:
        return f"signal {-exitcode}"


def run_isolated(func_path: str, kwargs: dict[str, Any], *, time_limit: float, memory_limit: int,
                 preload: tuple[str, ...] = ()) -> Any:
    """Call `func_path(**kwargs)` in a child; return its result or raise SandboxFailure."""
    context = _context(tuple(preload))
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(writer, func_path, json.dumps(kwargs), memory_limit, time_limit),
                            daemon=True, name="jobctl-sandbox")
    child.start()
    writer.close()
    raw = None
    try:
        if not reader.poll(time_limit):
            raise SandboxFailure("timeout", f"took longer than {time_limit:g} s and was stopped")
        try:
            raw = reader.recv_bytes()
        except EOFError:
            pass
    finally:
        if child.is_alive():
            child.kill()
        child.join(5)
        reader.close()
    if raw is None:
        if child.exitcode == -signal.SIGXCPU or child.exitcode == -signal.SIGALRM:
            raise SandboxFailure("timeout", f"used more than {time_limit:g} s of CPU and was stopped")
        if child.exitcode == -signal.SIGKILL:
            raise SandboxFailure("memory", "was killed (SIGKILL), most likely out of memory")
        raise SandboxFailure("crashed", f"crashed ({_signal_name(child.exitcode)})")
    outcome = json.loads(raw)
    if "ok" in outcome:
        return outcome["ok"]
    raise SandboxFailure(outcome["kind"], outcome["message"])
