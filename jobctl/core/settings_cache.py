"""Values built from one settings load (the queue catalogue, jobctl.toml's schedules), built once
and kept for as long as that settings object lives.

Settings are immutable, so what is derived from them never goes stale; a new load (or a
`dataclasses.replace`) is a new object and builds afresh.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from jobctl.config import Settings

T = TypeVar("T")


def once_per_settings(build: Callable[[Settings], T]) -> Callable[[Settings], T]:
    """`build(settings)`, run on the first call for a settings object; later calls get its result."""
    built: weakref.WeakKeyDictionary[Settings, T] = weakref.WeakKeyDictionary()
    lock = threading.Lock()  # workers' threads and the dashboard's reader share one settings object

    @wraps(build)
    def cached(settings: Settings) -> T:
        with lock:
            if settings not in built:
                built[settings] = build(settings)
            return built[settings]

    return cached
