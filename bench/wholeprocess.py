"""Whole-process measurements for bench/cli.py and bench/bulk.py: wall time from spawn to exit and the
child's peak RSS, from the rusage `os.wait4` returns for exactly that child (ru_maxrss; its own
children, if any, are not in it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

BIN = Path(sys.executable).parent  # the venv the bench runs in: its jobctl and rq
# settings of the developer's shell that would change what the measured commands do
DROPPED = ("JOBCTL_", "RQ_", "REDIS_")


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def tool(name: str) -> str:
    """A console script of this venv (jobctl, rq), else from PATH."""
    path = BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


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
    # read stderr as it comes (a full pipe would stall the child), then reap the child ourselves:
    # Popen.wait() would discard the rusage
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    # Linux reports ru_maxrss in KiB (macOS in bytes)
    rss = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return Measured(wall, rss, proc.returncode, err.decode(errors="replace"))


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
