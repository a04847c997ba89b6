"""The marketplace data store: SQLAlchemy Core over SQLite (default) or PostgreSQL.

engine      get_engine(settings) -> Engine, one per URL and process; DatabaseUnavailable (exit 3)
schema      the Table objects and `metadata` queries are written against
migrations  migrate / status / ensure_schema: numbered migrations, safe to run concurrently
seed        seed(engine, days=, users=, seed=, ...): reproducible sample data

Like core/, this package never imports typer, rich or textual.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from jobctl.config import Settings
from jobctl.data.engine import get_engine
from jobctl.data.migrations import ensure_schema


def engine_for(settings: Settings) -> Engine:
    """The engine for settings.database, its schema migrated: what job handlers and commands use,
    so a fresh install just works. Cheap after the first call in a process."""
    engine = get_engine(settings)
    ensure_schema(engine)
    return engine
