"""Databases for the tests of the data store and of the jobs that use it, on both backends.

`database_url` gives each test an empty database of its own: a SQLite file in tmp_path, and a
fresh PostgreSQL database `jobctl_t_<hex>` on 127.0.0.1:5432 (user postgres, trust auth) that is
dropped afterwards. Only databases this fixture created are ever dropped. Without a reachable
PostgreSQL the postgresql cases skip, saying why.

Fixtures registered for the whole suite by tests/conftest.py (pytest_plugins).
"""

from __future__ import annotations

import functools
import uuid

import pytest

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _pg_admin():
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)


@functools.cache
def _postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used (checked once per test process), or None."""
    try:
        _pg_admin().close()
    except Exception as exc:  # noqa: BLE001 - whatever the reason, the test skips and says it
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def _base(url: str) -> str:
    return url.rsplit("/", 1)[0]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """The URL of an empty database of this test's own, on each backend."""
    from jobctl.data.engine import dispose_engine

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobctl-test.db'}"
        yield url
        dispose_engine(url)
        return
    problem = _postgres_unavailable()
    if problem:
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} unreachable: {problem}")
    name = f"jobctl_t_{uuid.uuid4().hex[:16]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{_base(PG_ADMIN_URL)}/{name}"
    try:
        yield url
    finally:
        dispose_engine(url)
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_settings(database_url, monkeypatch):
    """Settings whose DATABASE_URL is this test's database, installed as the runtime settings."""
    from jobctl.core import runtime

    monkeypatch.setenv("DATABASE_URL", database_url)
    runtime.reset()
    return runtime.settings()
