"""The settings and connection of this process, shared by the library API and job handlers.

The CLI installs the settings it parsed (flags included) so that workers it runs, and handlers
inside them, see the same configuration; library callers get settings from the environment.
"""

from __future__ import annotations

import threading

import redis

from jobctl.config import Settings, load_settings

_lock = threading.Lock()
_settings: Settings | None = None
_connection: redis.Redis | None = None


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
            from jobctl.core.connection import connect

            _connection = connect(current)
        return _connection


def reset() -> None:
    install(None, None)  # type: ignore[arg-type]
