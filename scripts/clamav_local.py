#!/usr/bin/env python3
"""A private ClamAV daemon for the tests, unpacked into .venv/clamav from Debian's own packages.

    python3 scripts/clamav_local.py   # install when missing; a no-op when present; always exits 0

Nothing is installed system-wide and root is not needed: `apt-get download` fetches clamav-daemon and
whichever of its libraries this machine lacks, `dpkg -x` unpacks them here, and the tests start clamd
from here with LD_LIBRARY_PATH and a signature database of their own (freshclam is never run). When
apt's package lists do not know clamav-daemon, a private `apt-get update` into this folder fills them.

This must never fail the test command: when the install cannot be done (not Debian, no network) it
prints one line, writes the reason to .venv/clamav/UNAVAILABLE, and the clamd tests skip with it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".venv" / "clamav"
PACKAGE = "clamav-daemon"
APT_TIMEOUT = 300  # seconds for each apt-get run; a hung mirror must not hang the test command


class Unavailable(Exception):
    """Why this machine gets no local clamd."""


def clamd_path(home: Path = HOME) -> Path:
    return home / "root" / "usr" / "sbin" / "clamd"


def clamd_environ(home: Path = HOME) -> dict[str, str]:
    """os.environ plus LD_LIBRARY_PATH pointing at the unpacked libraries, listed before the system's."""
    root = home / "root"
    dirs = [*root.glob("usr/lib/*-linux-*"), *root.glob("lib/*-linux-*"), root / "usr" / "lib"]
    paths = [str(d) for d in dirs if d.is_dir()]
    if os.environ.get("LD_LIBRARY_PATH"):
        paths.append(os.environ["LD_LIBRARY_PATH"])
    return {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(paths)}


def unavailable_reason(home: Path = HOME) -> str | None:
    """None when a local clamd is installed, else why not (for pytest.skip)."""
    if (home / "INSTALLED").is_file() and clamd_path(home).is_file():
        return None
    try:
        return "no local clamd: " + (home / "UNAVAILABLE").read_text().strip()
    except OSError:
        return "no local clamd: run `python3 dev.py test` or `python3 scripts/clamav_local.py` to install one"


def ensure(home: Path = HOME) -> str | None:
    """Install when missing; None when clamd is ready, else the one-line reason it is not."""
    if unavailable_reason(home) is None:
        return None
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second `dev.py test` waits for the first one's install
        if unavailable_reason(home) is None:
            return None
        try:
            _install(home)
        except Unavailable as exc:
            reason = " ".join(str(exc).split())[:300]
            (home / "UNAVAILABLE").write_text(reason + "\n")
            return reason
        finally:
            for scratch in ("work", "apt", "root.new"):
                shutil.rmtree(home / scratch, ignore_errors=True)
    (home / "UNAVAILABLE").unlink(missing_ok=True)
    return None


def _run(args: list[str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(
            args,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=APT_TIMEOUT,
            env={**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"},
        )
    except subprocess.TimeoutExpired:
        raise Unavailable(f"`{' '.join(args[:2])}` took more than {APT_TIMEOUT}s") from None
    if done.returncode != 0:
        lines = done.stderr.splitlines()
        last = ([line for line in lines if line.startswith("E:")] or lines or [f"exit {done.returncode}"])[-1]
        raise Unavailable(f"`{' '.join(args[:2])}` failed: {last}")
    return done.stdout


def _download(apt_options: list[str], work: Path) -> None:
    """clamav-daemon and the libraries it needs that this machine lacks (apt's own resolver decides)."""
    out = _run(["apt-get", "-s", "install", "--no-install-recommends", *apt_options, PACKAGE])
    names = [line.split()[1] for line in out.splitlines() if line.startswith("Inst ")]
    # clamav-base/-freshclam only carry config and the updater, which the tests replace with their own
    packages = [n for n in names if n == PACKAGE or n.startswith("lib")] or [PACKAGE]
    _run(["apt-get", "download", *apt_options, *packages], cwd=work)


def _install(home: Path) -> None:
    started = time.monotonic()
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        raise Unavailable("this is not a Debian-like system (no apt-get/dpkg)")
    apt_options = ["-o", "Acquire::Retries=1", "-o", "Acquire::http::Timeout=30"]
    work, staged = home / "work", home / "root.new"
    for folder in (work, staged):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    try:
        _download(apt_options, work)
    except Unavailable:
        # the system's package lists are empty or stale: fetch private ones rather than touch /var/lib/apt
        apt = home / "apt"
        (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (apt / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        apt_options += [
            "-o",
            f"Dir::State::Lists={apt / 'lists'}",
            "-o",
            f"Dir::Cache={apt / 'cache'}",
            "-o",
            "Debug::NoLocking=1",
        ]
        _run(["apt-get", "update", *apt_options])
        _download(apt_options, work)
    for deb in sorted(work.glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(staged)])
    shutil.rmtree(home / "root", ignore_errors=True)
    staged.rename(home / "root")
    try:
        version = subprocess.run(
            [str(clamd_path(home)), "--config-file=/dev/null", "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            env=clamd_environ(home),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"the unpacked clamd does not start: {exc}") from None
    if version.returncode != 0:
        last = (version.stderr.strip().splitlines() or [f"exit {version.returncode}"])[-1]
        raise Unavailable(f"the unpacked clamd does not start: {last}")
    debs = " ".join(sorted(d.name for d in work.glob("*.deb")))
    (home / "INSTALLED").write_text(f"{version.stdout.strip()}\n{debs}\n")
    files = [f for f in (home / "root").rglob("*") if f.is_file() and not f.is_symlink()]
    size = sum(f.stat().st_size for f in files)
    print(
        f"clamav_local: {version.stdout.strip()} unpacked into {home} "
        f"({size / 1024**2:.0f} MB, {time.monotonic() - started:.1f}s)",
        file=sys.stderr,
    )


def main() -> int:
    try:
        reason = ensure()
    except Exception as exc:  # noqa: BLE001 - an installer bug must not fail the test command either
        reason = f"{type(exc).__name__}: {exc}"
    if reason:
        print(f"clamav_local: no local ClamAV daemon, the clamd tests will skip: {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
