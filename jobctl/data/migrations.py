"""Versioned schema migrations: a numbered list, applied in order, recorded in jobctl_schema_migrations.

Each migration is a function of a Connection, run in its own transaction together with the row
that records it, so a migration is either fully applied and recorded or not at all (both SQLite
and PostgreSQL have transactional DDL). Two processes migrating at once queue up: PostgreSQL
takes a transaction-scoped advisory lock, SQLite the write lock (BEGIN IMMEDIATE); the second one
then sees the version recorded and skips it.

Migration 1 builds its tables from a private copy of the version-1 definitions, not from
schema.py: schema.py describes the current shape and will move on, while what "version 1" means
must not change under databases already at version 1. Later migrations are explicit DDL
(op-by-op, e.g. `ALTER TABLE ... ADD COLUMN`), never `create_all` of the current metadata.
A test migrates an empty database and compares it with schema.py, so a schema change without
its migration fails the suite.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    UniqueConstraint,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine

from jobctl.data.engine import begin_write
from jobctl.errors import JobctlError

# any fixed 64-bit number; it only has to differ from other applications' advisory locks
PG_LOCK_KEY = 0x6A6F6263746C  # "jobctl"

_history_metadata = MetaData()
history = Table(
    "jobctl_schema_migrations",
    _history_metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", DateTime, nullable=False),
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _v1_tables() -> MetaData:
    """The marketplace tables exactly as version 1 created them. Frozen: never edit."""
    md = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    big_id = BigInteger().with_variant(Integer(), "sqlite")
    Table(
        "users",
        md,
        Column("id", Integer, primary_key=True),
        Column("email", String(255), nullable=False, unique=True),
        Column("name", String(120), nullable=False),
        Column("country", String(2), nullable=False),
        Column("created_at", DateTime, nullable=False, index=True),
        Column("referred_by", Integer, ForeignKey("users.id"), index=True),
    )
    Table(
        "products",
        md,
        Column("id", Integer, primary_key=True),
        Column("name", String(200), nullable=False),
        Column("category", String(40), nullable=False),
        Column("price_cents", BigInteger, nullable=False),
        Column("seller_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
        Column("created_at", DateTime, nullable=False),
    )
    Table(
        "orders",
        md,
        Column("id", Integer, primary_key=True),
        Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
        Column("status", String(16), nullable=False),
        Column("total_cents", BigInteger, nullable=False),
        Column("currency", String(3), nullable=False),
        Column("created_at", DateTime, nullable=False, index=True),
        Column("paid_at", DateTime, index=True),
        Column("refunded_at", DateTime),
    )
    Table(
        "order_items",
        md,
        Column("id", Integer, primary_key=True),
        Column("order_id", Integer, ForeignKey("orders.id"), nullable=False, index=True),
        Column("product_id", Integer, ForeignKey("products.id"), nullable=False, index=True),
        Column("quantity", Integer, nullable=False),
        Column("unit_price_cents", BigInteger, nullable=False),
    )
    Table(
        "payments",
        md,
        Column("id", Integer, primary_key=True),
        Column("order_id", Integer, ForeignKey("orders.id"), nullable=False, index=True),
        Column("provider", String(16), nullable=False),
        Column("amount_cents", BigInteger, nullable=False),
        Column("currency", String(3), nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("idempotency_key", String(100), unique=True),
        Column("failure_reason", String(100)),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    )
    Table(
        "page_views",
        md,
        Column("id", big_id, primary_key=True),
        Column("visitor_id", String(40), nullable=False),
        Column("user_id", Integer, ForeignKey("users.id")),
        Column("path", String(300), nullable=False),
        Column("product_id", Integer, ForeignKey("products.id")),
        Column("occurred_at", DateTime, nullable=False),
        Index(None, "occurred_at", "visitor_id"),
    )
    Table(
        "referrals",
        md,
        Column("id", Integer, primary_key=True),
        Column("referrer_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
        Column("referred_id", Integer, ForeignKey("users.id"), nullable=False, unique=True),
        Column("created_at", DateTime, nullable=False),
    )
    Table(
        "commissions",
        md,
        Column("id", Integer, primary_key=True),
        Column("order_id", Integer, ForeignKey("orders.id"), nullable=False),
        Column("referrer_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
        Column("level", Integer, nullable=False),
        Column("rate_bps", Integer, nullable=False),
        Column("amount_cents", BigInteger, nullable=False),
        Column("status", String(16), nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("reversed_at", DateTime),
        UniqueConstraint("order_id", "referrer_id", "level"),
    )
    Table(
        "analytics_aggregates",
        md,
        Column("period_type", String(16), primary_key=True),
        Column("period_start", DateTime, primary_key=True),
        Column("metric", String(40), primary_key=True),
        Column("value", Numeric(20, 6), nullable=False),
        Column("computed_at", DateTime, nullable=False),
    )
    Table(
        "reports",
        md,
        Column("id", Integer, primary_key=True),
        Column("kind", String(16), nullable=False),
        Column("period_start", Date, nullable=False),
        Column("period_end", Date, nullable=False),
        Column("format", String(8), nullable=False),
        Column("path", String(1000), nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("size", BigInteger, nullable=False),
        Column("created_at", DateTime, nullable=False),
        UniqueConstraint("kind", "period_start", "format"),
    )
    return md


def _create_marketplace_tables(conn: Connection) -> None:
    md = _v1_tables()
    existing = sorted(set(md.tables) & set(inspect(conn).get_table_names()))
    if existing:
        # someone else's tables (or a store created without jobctl): never adopt or alter them
        raise JobctlError(
            f"the database already has tables jobctl would create: {', '.join(existing)}",
            "point DATABASE_URL at an empty database (or one jobctl created)",
        )
    md.create_all(conn, checkfirst=False)


def _payment_provider_ref(conn: Connection) -> None:
    # what the provider knows the payment as (a Stripe PaymentIntent, a YooKassa payment method, a
    # crypto invoice): the retry job needs it, and the v1 table had nowhere to keep it
    conn.execute(text("ALTER TABLE payments ADD COLUMN provider_ref VARCHAR(100)"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "marketplace tables", _create_marketplace_tables),
    Migration(2, "payments.provider_ref", _payment_provider_ref),
)
LATEST = MIGRATIONS[-1].version

_known_current: weakref.WeakSet[Engine] = weakref.WeakSet()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _lock(conn: Connection) -> None:
    """Serialize migrators; SQLite already holds the write lock (begin_write's BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})


def _applied(conn: Connection) -> dict[int, dict]:
    if not inspect(conn).has_table(history.name):
        return {}
    rows = conn.execute(select(history).order_by(history.c.version)).mappings()
    return {
        row["version"]: {
            "version": row["version"],
            "name": row["name"],
            "applied_at": row["applied_at"].isoformat(sep=" ", timespec="seconds"),
        }
        for row in rows
    }


def _check_not_ahead(applied: dict[int, dict]) -> None:
    ahead = [v for v in applied if v > LATEST]
    if ahead:
        raise JobctlError(
            f"the database schema is at version {max(ahead)}, newer than this jobctl knows (latest {LATEST})",
            "upgrade jobctl on this machine",
        )


def migrate(engine: Engine) -> list[dict]:
    """Apply every pending migration, each in its own transaction; returns what this call applied.

    Idempotent: a second call (or a concurrent one in another process) applies nothing.
    """
    done: list[dict] = []
    for migration in MIGRATIONS:
        with begin_write(engine) as conn:
            _lock(conn)
            history.create(conn, checkfirst=True)
            applied = _applied(conn)
            _check_not_ahead(applied)
            if migration.version in applied:
                continue
            started = time.perf_counter()
            migration.apply(conn)
            applied_at = _now().replace(microsecond=0)
            conn.execute(
                insert(history).values(version=migration.version, name=migration.name, applied_at=applied_at)
            )
        done.append(
            {
                "version": migration.version,
                "name": migration.name,
                "applied_at": applied_at.isoformat(sep=" "),
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
    _known_current.add(engine)
    return done


def status(engine: Engine) -> dict:
    """Where the schema stands: current and latest version, what was applied when, what is pending."""
    with engine.connect() as conn:
        applied = _applied(conn)
    current = max(applied, default=0)
    return {
        "backend": engine.dialect.name,
        "current_version": current,
        "latest_version": LATEST,
        "applied": list(applied.values()),
        "pending": [{"version": m.version, "name": m.name} for m in MIGRATIONS if m.version not in applied],
        "ahead": current > LATEST,
    }


def ensure_schema(engine: Engine) -> list[dict]:
    """Migrate if needed; cheap after the first call per engine (job handlers call it every time)."""
    if engine in _known_current:
        return []
    with engine.connect() as conn:
        applied = _applied(conn)
    _check_not_ahead(applied)
    if all(m.version in applied for m in MIGRATIONS):
        _known_current.add(engine)
        return []
    return migrate(engine)
