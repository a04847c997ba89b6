"""Engines: URL handling, SQLite tuning, transactional DDL, one engine per URL, clear errors."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, inspect, text

from jobctl.data.engine import (
    DatabaseUnavailable,
    begin_write,
    dispose_engine,
    get_engine,
    new_engine,
    sqlalchemy_url,
)
from jobctl.errors import ConfigError, ExitCode


def test_plain_postgres_urls_mean_psycopg3():
    assert sqlalchemy_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert sqlalchemy_url("postgres://u:pw@h:5433/db") == "postgresql+psycopg://u:pw@h:5433/db"
    assert sqlalchemy_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert sqlalchemy_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_settings_default_is_sqlite_in_the_state_folder(settings, jobctl_env):
    engine = get_engine(settings)
    try:
        assert engine.dialect.name == "sqlite"
        assert (jobctl_env / "jobctl.db").exists()
    finally:
        dispose_engine(settings)


def test_sqlite_is_tuned_for_several_processes(tmp_path):
    url = f"sqlite:///{tmp_path / 'nested' / 'folder' / 'x.db'}"
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert (tmp_path / "nested" / "folder" / "x.db").exists()
    finally:
        dispose_engine(url)


def test_one_engine_per_url(tmp_path):
    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    try:
        assert get_engine(a) is get_engine(a)
        assert get_engine(a) is not get_engine(b)
    finally:
        dispose_engine(a)
        dispose_engine(b)


def test_ddl_rolls_back_with_its_transaction(database_url):
    """What makes a migration all-or-nothing (SQLite needs our own BEGIN for this)."""
    engine = new_engine(database_url)
    table = Table("scratch", MetaData(), Column("id", Integer, primary_key=True))
    try:
        with pytest.raises(RuntimeError), begin_write(engine) as conn:
            table.create(conn)
            raise RuntimeError("half-way")
        assert not inspect(engine).has_table("scratch")
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(database_url):
    from sqlalchemy.exc import IntegrityError

    from jobctl.data.migrations import migrate
    from jobctl.data.schema import products

    engine = new_engine(database_url)
    try:
        migrate(engine)
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                products.insert().values(
                    name="x",
                    category="fonts",
                    price_cents=100,
                    seller_id=999,
                    created_at=text("CURRENT_TIMESTAMP"),
                )
            )
    finally:
        engine.dispose()


def test_unreachable_postgres_is_one_clear_line_without_the_password(closed_port):
    url = f"postgresql://shop:s3cret-pw@127.0.0.1:{closed_port}/shop"
    with pytest.raises(DatabaseUnavailable) as caught:
        get_engine(url)
    err = caught.value
    assert err.code == ExitCode.UNREACHABLE
    assert err.message.startswith(
        f"cannot reach the database at postgresql://shop:********@127.0.0.1:{closed_port}/shop"
    )
    assert "\n" not in err.message and "s3cret-pw" not in err.message + (err.hint or "")
    assert err.hint and "DATABASE_URL" in err.hint


def test_unusable_sqlite_path_is_unreachable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(DatabaseUnavailable) as caught:
        get_engine(f"sqlite:///{blocker / 'sub' / 'x.db'}")
    assert "cannot create the folder" in caught.value.message


def test_unsupported_urls_are_config_errors():
    with pytest.raises(ConfigError):
        get_engine("not a url")
    with pytest.raises(ConfigError):
        get_engine("mysql://u@h/db")
