"""Run risky work (decoding untrusted images) in a throwaway child with a memory ceiling and a time limit.

jobctl workers run jobs in their own process, so a decoder that balloons, spins or crashes on a
hostile file would take the worker, and the next job, with it. Instead each call runs in a fresh
child forked from a *zygote*: a small single-threaded process the worker starts once, which has
already imported the decoding modules, so a fork costs milliseconds and inherits no worker thread,
lock or connection. The child lowers its own RLIMIT_AS and RLIMIT_CPU and arms an alarm; the zygote
waits at most the time limit, kills it, and reports how it ended. Requests and results are JSON
lines over the zygote's stdin/stdout.

multiprocessing's forkserver does much the same, but re-runs the parent's `__main__` script in
every child (for a worker started as the `jobctl` console script that means importing the whole
CLI per job), and it pickles.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from jobctl.core.lifetime import die_with_parent

GRACE = 5.0  # seconds the worker waits beyond the time limit before giving up on the zygote itself


class SandboxFailure(Exception):
    """The child did not return a result: what happened, in a line."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind  # "timeout" | "memory" | "crashed" | the child's exception class name
        self.message = message


# -- the worker's side -----------------------------------------------------------------------


class _Zygote:
    def __init__(self, preload: tuple[str, ...]):
        boot = "import sys; from jobctl.jobs.files.sandbox import serve; serve(sys.argv[1])"
        config = json.dumps({"preload": list(preload), "sys_path": sys.path})
        self.process = subprocess.Popen(
            [sys.executable, "-c", boot, config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def call(self, request: dict, wait: float) -> dict:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None  # both opened as pipes above
        stdin.write(json.dumps(request).encode() + b"\n")
        stdin.flush()
        ready, _, _ = select.select([stdout], [], [], wait)
        line = stdout.readline() if ready else b""
        if not line:
            raise SandboxFailure("crashed", "the sandbox stopped answering")
        return json.loads(line)

    def close(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait(5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:  # (both are: opened as pipes above)
                stream.close()


_zygotes: dict[tuple[str, ...], _Zygote] = {}
_lock = threading.Lock()


def run_isolated(
    func_path: str,
    kwargs: dict[str, Any],
    *,
    time_limit: float,
    memory_limit: int,
    preload: tuple[str, ...] = (),
) -> Any:
    """Call `func_path(**kwargs)` in a child; return its (JSON) result or raise SandboxFailure."""
    request = {"func": func_path, "kwargs": kwargs, "time_limit": time_limit, "memory_limit": memory_limit}
    key = tuple(preload)
    with _lock:  # one zygote serves one call at a time
        zygote = _zygotes.get(key)
        if zygote is None or not zygote.alive():
            zygote = _zygotes[key] = _Zygote(key)
        try:
            outcome = zygote.call(request, time_limit + GRACE)
        except (SandboxFailure, OSError, ValueError) as exc:
            zygote.close()  # a fresh one next time
            del _zygotes[key]
            if isinstance(exc, SandboxFailure):
                raise
            raise SandboxFailure("crashed", f"the sandbox failed: {type(exc).__name__}: {exc}") from None
    if "ok" in outcome:
        return outcome["ok"]
    raise SandboxFailure(outcome["kind"], outcome["message"])


# -- the zygote ------------------------------------------------------------------------------


def serve(config_json: str) -> None:
    """The zygote's loop: a request per line on stdin, an outcome per line on stdout, until EOF."""
    die_with_parent(signal.SIGKILL)
    config = json.loads(config_json)
    sys.path[:] = config["sys_path"]
    for module in config["preload"]:
        importlib.import_module(module)
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing a decoder prints can corrupt the replies
    for line in sys.stdin:
        replies.write(json.dumps(_run_one(json.loads(line))) + "\n")
        replies.flush()


def _signal_name(status: int) -> str:
    number = os.WTERMSIG(status)
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _run_one(request: dict) -> dict:
    time_limit = float(request["time_limit"])
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(reader)
        _child(writer, request)
    os.close(writer)
    raw, deadline, timed_out = b"", time.monotonic() + time_limit, False
    with os.fdopen(reader, "rb") as pipe:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([pipe], [], [], remaining)[0]:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            chunk = os.read(pipe.fileno(), 1 << 16)
            if not chunk:
                break
            raw += chunk
    _, status = os.waitpid(pid, 0)
    if raw:
        return json.loads(raw)
    if timed_out or (os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGALRM)):
        return {"kind": "timeout", "message": f"took longer than {time_limit:g} s and was stopped"}
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return {"kind": "memory", "message": "was killed (SIGKILL), most likely out of memory"}
    how = _signal_name(status) if os.WIFSIGNALED(status) else f"exit code {os.WEXITSTATUS(status)}"
    return {"kind": "crashed", "message": f"crashed ({how})"}


def _child(writer: int, request: dict) -> None:
    code = 0
    try:
        die_with_parent(signal.SIGKILL)
        memory = int(request["memory_limit"])
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        cpu = int(request["time_limit"]) + 2
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        signal.alarm(int(request["time_limit"]) + 5)  # SIGALRM's default action ends us even inside C code
        module, _, name = request["func"].rpartition(".")
        try:
            outcome = {"ok": getattr(importlib.import_module(module), name)(**request["kwargs"])}
        except MemoryError:
            outcome = {"kind": "memory", "message": "ran out of memory"}
        except Exception as exc:  # noqa: BLE001 - reported to the worker, which decides what it means
            outcome = {"kind": type(exc).__name__, "message": getattr(exc, "reason", None) or str(exc)}
        data = json.dumps(outcome).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(writer, view) :]
    except BaseException:  # noqa: BLE001 - anything in the child, even SystemExit, ends it with 70
        code = 70
    finally:
        os._exit(code)
