"""The marketplace tables, as SQLAlchemy Core `Table`s: what queries are written against.

Conventions, the same on SQLite and PostgreSQL:
- timestamps are UTC without tz info (`DateTime`, naive); convert before comparing with aware values;
- money is integer minor units (`*_cents`), currency a 3-letter code next to it;
- statuses are short strings (the allowed values are the tuples below; not enforced by CHECK
  constraints, so adding a value later needs no table rebuild on SQLite);
- `analytics_aggregates.value` is Numeric(20, 6): Decimal in Python; SQLite stores it with
  float precision.

This module is the *current* shape. The DDL that built it lives in migrations.py (frozen per
version); a test checks that both agree, so change them together, with a new migration.
"""

from __future__ import annotations

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
)

# constraint and index names that are predictable on both backends, so a later migration can name them
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ORDER_STATUSES = ("pending", "paid", "refunded", "failed")
PAYMENT_PROVIDERS = ("stripe", "yookassa", "crypto")
PAYMENT_STATUSES = ("pending", "paid", "failed", "refunded")
COMMISSION_STATUSES = ("earned", "reversed")
PERIOD_TYPES = ("hourly", "daily", "weekly", "monthly")
REPORT_KINDS = ("daily", "weekly")
REPORT_FORMATS = ("pdf", "csv", "json")

# SQLite only auto-numbers a column declared exactly INTEGER PRIMARY KEY
BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(naming_convention=NAMING_CONVENTION)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(255), nullable=False, unique=True),
    Column("name", String(120), nullable=False),
    Column("country", String(2), nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("referred_by", Integer, ForeignKey("users.id"), nullable=True, index=True),
)

products = Table(
    "products",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("category", String(40), nullable=False),
    Column("price_cents", BigInteger, nullable=False),
    Column("seller_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("created_at", DateTime, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("total_cents", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("paid_at", DateTime, nullable=True, index=True),
    Column("refunded_at", DateTime, nullable=True),
)

order_items = Table(
    "order_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False, index=True),
    Column("product_id", Integer, ForeignKey("products.id"), nullable=False, index=True),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", BigInteger, nullable=False),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False, index=True),
    Column("provider", String(16), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("idempotency_key", String(100), nullable=True, unique=True),
    Column("failure_reason", String(100), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("provider_ref", String(100), nullable=True),  # migration 2
)

page_views = Table(
    "page_views",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("visitor_id", String(40), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("path", String(300), nullable=False),
    Column("product_id", Integer, ForeignKey("products.id"), nullable=True),
    Column("occurred_at", DateTime, nullable=False),
    # roll-ups scan a time range and count distinct visitors: this index covers both
    Index(None, "occurred_at", "visitor_id"),
)

referrals = Table(
    "referrals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("referrer_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("referred_id", Integer, ForeignKey("users.id"), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
)

commissions = Table(
    "commissions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False),
    Column("referrer_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("level", Integer, nullable=False),
    Column("rate_bps", Integer, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("reversed_at", DateTime, nullable=True),
    UniqueConstraint("order_id", "referrer_id", "level"),
)

analytics_aggregates = Table(
    "analytics_aggregates",
    metadata,
    Column("period_type", String(16), primary_key=True),
    Column("period_start", DateTime, primary_key=True),
    Column("metric", String(40), primary_key=True),
    Column("value", Numeric(20, 6), nullable=False),
    Column("computed_at", DateTime, nullable=False),
)

reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),  # inclusive
    Column("format", String(8), nullable=False),
    Column("path", String(1000), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("kind", "period_start", "format"),
)

# insertion order (parents first); delete in reverse
TABLES = (
    users,
    products,
    orders,
    order_items,
    payments,
    page_views,
    referrals,
    commissions,
    analytics_aggregates,
    reports,
)
