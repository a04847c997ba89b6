"""SQLAlchemy engines for the marketplace store: SQLite by default, PostgreSQL (psycopg 3) on request.

One engine per URL and per process: engines hold pooled connections, which must not cross a
fork (workers are forked by the supervisor), so a child process builds its own. The parent's
engines stay referenced (never used, never closed) in the child: closing them there would end the
parent's sessions.

SQLite is tuned for several processes sharing one file: WAL (readers never block the writer),
foreign keys enforced, a busy timeout instead of an instant "database is locked". Python's
sqlite3 module only sends BEGIN before DML, which makes DDL autocommit and lets a read-then-write
transaction fail on upgrade; we switch that off and send BEGIN ourselves, BEGIN IMMEDIATE
(the write lock up front) for `begin_write()`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from jobctl.config import Settings, mask_url
from jobctl.errors import ConfigError, ExitCode, JobctlError

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 5
HINT_UNREACHABLE = (
    "check DATABASE_URL and that the database server is running, "
    "or unset DATABASE_URL to use the SQLite file in the state folder"
)
_BEGIN_OPTION = "jobctl_sqlite_begin"


class DatabaseUnavailable(JobctlError):
    code = ExitCode.UNREACHABLE
    kind = "database_unreachable"


_lock = threading.Lock()
_engines: dict[tuple[int, str], Engine] = {}


def sqlalchemy_url(url: str) -> str:
    """The URL SQLAlchemy should get: plain postgresql:// and postgres:// mean psycopg 3."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(
            f"DATABASE_URL {mask_url(url)!r} is not a URL",
            "e.g. sqlite:////var/lib/jobctl/jobctl.db or postgresql://user@host/db",
        )
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return url


def _url_of(target: Settings | str) -> str:
    return target.database if isinstance(target, Settings) else target


def get_engine(target: Settings | str) -> Engine:
    """The engine for settings.database (or a URL), shared in this process and checked once.

    Raises DatabaseUnavailable (exit 3) when the database cannot be reached, ConfigError (exit 2)
    when the URL is unusable. The password never appears in either message.
    """
    url = _url_of(target)
    key = (os.getpid(), url)
    with _lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine
        engine = new_engine(url)
        try:
            check_reachable(engine, url)
        except BaseException:
            engine.dispose()
            raise
        _engines[key] = engine
        return engine


def new_engine(target: Settings | str) -> Engine:
    """A fresh, unshared engine (tests, or code that wants its own pool); not checked yet."""
    url = _url_of(target)
    try:
        parsed = make_url(sqlalchemy_url(url))
    except ArgumentError:
        raise ConfigError(
            f"DATABASE_URL {mask_url(url)!r} is not a valid database URL",
            "e.g. sqlite:////var/lib/jobctl/jobctl.db or postgresql://user@host/db",
        ) from None
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engine(parsed, url)
        if backend == "postgresql":
            timeout = {} if "connect_timeout" in parsed.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
            return sqlalchemy.create_engine(parsed, connect_args=timeout, pool_pre_ping=True)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise ConfigError(
            f"no driver for DATABASE_URL {mask_url(url)!r}: {exc}",
            "use postgresql:// (psycopg 3) or sqlite:///",
        ) from None
    raise ConfigError(
        f"DATABASE_URL {mask_url(url)!r}: unsupported database {backend!r}",
        "use sqlite:///path or postgresql://user@host/db",
    )


def _sqlite_engine(parsed: sqlalchemy.URL, url: str) -> Engine:
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailable(
                f"cannot create the folder for {mask_url(url)}: {exc.strerror}",
                "check the path and its permissions, or set JOBCTL_HOME",
            ) from None
    engine = sqlalchemy.create_engine(parsed)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we send BEGIN ourselves (see the module docstring)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _enable_wal(cursor)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


def _enable_wal(cursor) -> None:
    """WAL is a property of the file, set once. Switching needs a moment alone with the file and
    SQLite does not wait for that (busy_timeout does not apply), so a fresh file opened by several
    processes at once gets a few tries."""
    for attempt in range(50):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.1)


def check_reachable(engine: Engine, url: str | None = None) -> None:
    """One round trip; DatabaseUnavailable with the driver's first line and the masked URL if it fails."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except DBAPIError as exc:
        raise unavailable(exc, url or engine.url.render_as_string(hide_password=True)) from None


def unavailable(exc: DBAPIError, url: str) -> DatabaseUnavailable:
    """The one-line error for a database we cannot talk to (never the password, never a traceback)."""
    detail = " ".join(str(exc.orig or exc).split())
    password = make_url(sqlalchemy_url(url)).password if "://" in url else None
    if password:
        detail = detail.replace(str(password), "***")
    return DatabaseUnavailable(f"cannot reach the database at {mask_url(url)}: {detail}", HINT_UNREACHABLE)


@contextmanager
def begin_write(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: on SQLite it takes the write lock up front (BEGIN IMMEDIATE),
    so reading first and writing later cannot fail half-way with "database is locked"."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        with conn.begin():
            yield conn


def dispose_engine(target: Settings | str) -> None:
    """Close this process's pooled connections to that URL (tests do this before dropping a database)."""
    url = _url_of(target)
    with _lock:
        engine = _engines.pop((os.getpid(), url), None)
    if engine is not None:
        engine.dispose()


def dispose_engines() -> None:
    with _lock:
        mine = [key for key in _engines if key[0] == os.getpid()]
        engines = [_engines.pop(key) for key in mine]
    for engine in engines:
        engine.dispose()
