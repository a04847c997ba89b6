#!/usr/bin/env python3
"""Debian's chromium and chromium-driver, for the web dashboard's browser tests (tests/web/).

    python3 scripts/browser_local.py     # install them when missing; always exits 0

`python3 dev.py test` runs this. Unlike scripts/debs_local.py's bundles, a browser needs dozens of
system libraries (graphics, fonts, NSS), so it is installed system-wide with apt-get, which needs
root. This must never fail the test command: when the install cannot be done (not root, not
Debian, no network) it prints one line, writes the reason to .venv/browser/UNAVAILABLE, and the
browser tests skip with that reason (`unavailable_reason()`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # debs_local, next to this file, however loaded

import debs_local
from debs_local import Unavailable

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".venv" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PACKAGES = ("chromium", "chromium-driver")
APT_TIMEOUT = (
    900  # seconds for each apt-get run (the browser is ~100 MB); a hung mirror must not hang the tests
)


def installed() -> bool:
    return CHROMIUM.is_file() and CHROMEDRIVER.is_file()


def unavailable_reason() -> str | None:
    """None when the browser and its driver are installed, else why not (for pytest.skip)."""
    if installed():
        return None
    try:
        return "no chromium: " + (HOME / "UNAVAILABLE").read_text().strip()
    except OSError:
        return "no chromium: run `python3 dev.py test` or `python3 scripts/browser_local.py` to install it"


def _apt(*args: str) -> None:
    debs_local.run(["apt-get", *args], timeout=APT_TIMEOUT)


def _install() -> None:
    if not shutil.which("apt-get"):
        raise Unavailable("this is not a Debian-like system (no apt-get)")
    if os.geteuid() != 0:
        raise Unavailable(
            f"installing {' and '.join(PACKAGES)} needs root: sudo apt-get install {' '.join(PACKAGES)}"
        )
    options = ("-y", "--no-install-recommends", "-o", "Acquire::Retries=1", "-o", "Acquire::http::Timeout=30")
    try:
        _apt("install", *options, *PACKAGES)
    except Unavailable:
        _apt("update")  # empty or stale package lists: refresh them once, then try again
        _apt("install", *options, *PACKAGES)
    if not installed():
        raise Unavailable(
            f"apt-get installed {' '.join(PACKAGES)} but {CHROMIUM} or {CHROMEDRIVER} is missing"
        )


def ensure() -> str | None:
    """Install when missing; None when ready, else the one-line reason it is not."""
    if installed():
        return None
    HOME.mkdir(parents=True, exist_ok=True)
    with open(HOME / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second `dev.py test` waits for the first one's install
        if installed():
            return None
        try:
            _install()
        except Unavailable as exc:
            reason = " ".join(str(exc).split())[:300]
            (HOME / "UNAVAILABLE").write_text(reason + "\n")
            return reason
    (HOME / "UNAVAILABLE").unlink(missing_ok=True)
    print(f"browser_local: installed {' '.join(PACKAGES)}", file=sys.stderr)
    return None


def main() -> int:
    try:
        reason = ensure()
    except Exception as exc:  # noqa: BLE001 - an installer bug must not fail the test command either
        reason = f"{type(exc).__name__}: {exc}"
    if reason:
        print(f"browser_local: no chromium, the browser tests will skip: {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
