#!/usr/bin/env python3
"""Set up jobctl in ./.venv (first run, or when pyproject.toml changes) and run something in it.

    python3 dev.py demo        # the main job: jobctl demo on the embedded server
    python3 dev.py test        # the static checks, then the whole test suite
    python3 dev.py check       # the static checks alone: ruff check, ruff format --check, mypy
    python3 dev.py bench       # the benchmark table
    python3 dev.py bench files # thumbnails of a 12 MP JPEG: Pillow alone vs through jobctl
    python3 dev.py bench analytics  # roll-ups of 60 days x 100k page views a day
    python3 dev.py bench dash  # stats, metrics and a dash refresh with 1M waiting jobs
    python3 dev.py bench web   # the web dashboard's overview (server time) with 1M waiting jobs
    python3 dev.py bench chaos # 5,000 jobs while workers and the server are killed: lost, stuck, duplicates
    python3 dev.py bench capacity  # what one Redis carries: jobs/s with 1-8 workers, CPU and memory per job
    python3 dev.py bench failover  # 2,000 jobs while the Sentinel-watched master is SIGKILLed 3 times
    python3 dev.py bench cli   # whole-process times of jobctl --version, stats --json, enqueue email
    python3 dev.py bench bulk  # email-bulk of 1M CSV rows beside BullMQ addBulk; noop --count; clear
    python3 dev.py jobctl ...  # any jobctl command

Needs only Python 3.11+; everything else comes from PyPI into the virtualenv.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".jobctl-installed"

# Run before the tests, fastest first; the first failure stops the run. The tools come from the test
# extra. (The import-linter contracts run as a test: tests/test_import_contracts.py.)
STATIC_CHECKS = (
    ("ruff", "check", "--no-cache", "."),
    ("ruff", "format", "--check", "--no-cache", "."),
    ("mypy",),  # the files and settings are in pyproject.toml [tool.mypy]; .mypy_cache keeps reruns fast
)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs under whatever python3 the machine has
        sys.exit(f"jobctl needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("dev.py: creating .venv", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing jobctl and its test dependencies into .venv", file=sys.stderr)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(wanted)


def static_checks() -> int:
    for tool, *args in STATIC_CHECKS:
        print(f"dev.py: {tool} {' '.join(args)}", file=sys.stderr)
        code = subprocess.call([str(BIN / tool), *args], cwd=ROOT)
        if code:
            print(f"dev.py: {tool} failed (exit {code})", file=sys.stderr)
            return code
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    ensure_venv()
    command, rest = argv[0], argv[1:]
    if command == "demo":
        args = [str(BIN / "jobctl"), "demo", *rest]
    elif command == "check":
        return static_checks()
    elif command == "test":
        if code := static_checks():
            return code
        # private ClamAV, zsh and fish for the clamd and shell-completion tests; never fails: without
        # them those tests skip, saying why
        subprocess.call([sys.executable, str(ROOT / "scripts" / "debs_local.py")])
        # Debian's chromium and its driver for the web dashboard's browser tests; never fails either
        subprocess.call([sys.executable, str(ROOT / "scripts" / "browser_local.py")])
        args = [str(BIN / "python"), "-m", "pytest", "-n", "2", "--dist", "loadfile", *rest]
    elif command == "bench":
        named = {
            "files": "files.py",
            "analytics": "analytics.py",
            "dash": "dash.py",
            "chaos": "chaos.py",
            "web": "web.py",
            "capacity": "capacity.py",
            "failover": "failover.py",
            "cli": "cli.py",
            "bulk": "bulk.py",
        }
        script, rest = (named[rest[0]], rest[1:]) if rest[:1] and rest[0] in named else ("run.py", rest)
        args = [str(BIN / "python"), str(ROOT / "bench" / script), *rest]
    elif command == "jobctl":
        args = [str(BIN / "jobctl"), *rest]
    else:
        print(f"dev.py: unknown command {command!r}; use demo, test, check, bench or jobctl", file=sys.stderr)
        return 2
    return subprocess.call(args, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
