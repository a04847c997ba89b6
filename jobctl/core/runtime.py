"""The settings and connection of this process, shared by the library API and job handlers.

The CLI installs the settings it parsed (flags included) so that workers it runs, and handlers
inside them, see the same configuration; library callers get settings from the environment.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis

from jobctl import config
from jobctl.config import Settings
from jobctl.core.catalog import queue_catalog
from jobctl.core.connection import connect
from jobctl.core.schedule_tables import toml_schedules

_lock = threading.Lock()
_settings: Settings | None = None
_connection: redis.Redis | None = None


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """`jobctl.config.load_settings`, then the queue catalogue and jobctl.toml's schedules built from
    them now (and kept, once per load), so a bad [queues] or [schedules] table fails at load with a
    ConfigError naming it, not mid-run."""
    settings = config.load_settings(flags, environ, cwd)
    queue_catalog(settings)
    toml_schedules(settings)
    return settings


def install(settings: Settings, connection: redis.Redis | None = None) -> None:
    global _settings, _connection
    with _lock:
        _settings, _connection = settings, connection


def settings() -> Settings:
    global _settings
    with _lock:
        if _settings is None:
            _settings = load_settings()
        return _settings


def connection() -> redis.Redis:
    global _connection
    current = settings()
    with _lock:
        if _connection is None:
            _connection = connect(current)
        return _connection


def reset() -> None:
    install(None, None)  # type: ignore[arg-type]
