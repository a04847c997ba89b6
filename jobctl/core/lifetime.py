"""Child processes that must not outlive the process that started them."""

from __future__ import annotations

import ctypes
import signal


def _find_prctl():
    # looked up once, at import: a forked child then calls it without touching the loader
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


_PRCTL = _find_prctl()
PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to signal this process when its parent dies, so no orphan outlives a killed worker.

    Elsewhere this does nothing; callers keep a second way out (a failed lock refresh, EOF, an alarm)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, int(sig))
