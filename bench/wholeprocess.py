"""Whole-process measurements for bench/cli.py and bench/bulk.py: wall time from spawn to exit and the
child's peak RSS: the high-water mark of its own memory after exec (VmHWM in /proc/<pid>/status,
read every 10 ms while it runs). Not ru_maxrss: Linux carries that across fork and exec, so a
child of a bench process that has grown (it parsed a 40 MB JSON) would report the bench's size.
ru_maxrss is the fallback where /proc is missing. The child's own children are not counted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

BIN = Path(sys.executable).parent  # the venv the bench runs in: its jobctl and rq
# settings of the developer's shell that would change what the measured commands do; and
# PYTHONDONTWRITEBYTECODE, which would have every run compile jobctl's modules from source (~60 ms
# here) where an installed jobctl runs from the bytecode pip compiled at install (compile_package)
DROPPED = ("JOBCTL_", "RQ_", "REDIS_", "PYTHONDONTWRITEBYTECODE")


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def tool(name: str) -> str:
    """A console script of this venv (jobctl, rq), else from PATH."""
    path = BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def compile_package() -> None:
    """Byte-compile jobctl's modules, as pip does when it installs a wheel: a source checkout run
    with PYTHONDONTWRITEBYTECODE set has none, and would time the compiler."""
    import compileall  # lazy: only the benches that time whole processes

    import jobctl  # lazy: the bench's own imports stay light

    compileall.compile_dir(str(Path(jobctl.__file__).parent), quiet=1)


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without JOBCTL_*/RQ_*/REDIS_* variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED)}
    return {**env, **extra}


@dataclass
class Measured:
    wall: float  # seconds, spawn to reaped
    max_rss_mib: float  # the child's peak resident set
    returncode: int
    stderr: str


def run(args: list[str], env: dict[str, str], stdout: IO | int = subprocess.DEVNULL, cwd=None) -> Measured:
    """Run `args` to the end; stdout goes to `stdout` (a file, or discarded), stderr is kept."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=stdout, stderr=subprocess.PIPE, cwd=cwd)
    peak = [0]
    done = threading.Event()
    watcher = threading.Thread(target=_watch_hwm, args=(proc.pid, peak, done), daemon=True)
    watcher.start()
    # read stderr as it comes (a full pipe would stall the child), then reap the child ourselves:
    # Popen.wait() would discard the rusage
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    done.set()
    watcher.join()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    # Linux reports ru_maxrss in KiB (macOS in bytes)
    fallback = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    rss = peak[0] / 1024 if peak[0] else fallback
    return Measured(wall, rss, proc.returncode, err.decode(errors="replace"))


def _watch_hwm(pid: int, peak: list[int], done: threading.Event) -> None:
    """peak[0]: the largest VmHWM (KiB) read from /proc/<pid>/status until `done` or the file goes.
    The child's stderr closes only as it exits, so the last reads come from its last moments."""
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            text = status.read_text()
        except OSError:
            return
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                peak[0] = max(peak[0], int(line.split()[1]))
        if done.wait(0.01):
            return


def load() -> tuple[float, float, float]:
    return os.getloadavg()


def load_text(start: tuple[float, ...], end: tuple[float, ...]) -> str:
    return " -> ".join(", ".join(f"{x:.1f}" for x in loads) for loads in (start, end))


def table(rows: list[list[str]], header: list[str]) -> str:
    """Plain text columns: the first left-aligned, the rest right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])
