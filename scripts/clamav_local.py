#!/usr/bin/env python3
"""A private ClamAV daemon for the tests, unpacked into .venv/clamav from Debian's own packages.

    python3 scripts/clamav_local.py   # install when missing; a no-op when present; always exits 0

The clamav bundle of scripts/debs_local.py (which `python3 dev.py test` runs), under the names the
clamd tests use: clamav-daemon and whichever of its libraries this machine lacks, unpacked without
root; the tests start clamd from here with LD_LIBRARY_PATH and a signature database of their own
(freshclam is never run). When the install cannot be done it prints one line, writes the reason to
.venv/clamav/UNAVAILABLE, and the clamd tests skip with it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # debs_local, next to this file, however loaded

import debs_local

BUNDLE = debs_local.BUNDLES["clamav"]
HOME = BUNDLE.home
PACKAGE = BUNDLE.package


def clamd_path(home: Path = HOME) -> Path:
    return debs_local.program_path(BUNDLE, home)


def clamd_environ(home: Path = HOME) -> dict[str, str]:
    """os.environ plus LD_LIBRARY_PATH pointing at the unpacked libraries, listed before the system's."""
    return debs_local.environ(home)


def unavailable_reason(home: Path = HOME) -> str | None:
    """None when a local clamd is installed, else why not (for pytest.skip)."""
    return debs_local.unavailable_reason(BUNDLE, home, what="local clamd")


def ensure(home: Path = HOME) -> str | None:
    """Install when missing; None when clamd is ready, else the one-line reason it is not."""
    return debs_local.ensure(BUNDLE, home)


def main() -> int:
    return debs_local.main(["clamav"])


if __name__ == "__main__":
    sys.exit(main())
