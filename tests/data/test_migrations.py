"""Migrations: from empty to latest on both backends, idempotent, concurrent-safe, matching schema.py."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from sqlalchemy import UniqueConstraint, inspect, select, text

from jobctl.data import migrations, schema
from jobctl.data.engine import new_engine
from jobctl.errors import JobctlError

# what others write queries against (issue #6): every table and its columns, in order
EXPECTED_COLUMNS = {
    "users": ["id", "email", "name", "country", "created_at", "referred_by"],
    "products": ["id", "name", "category", "price_cents", "seller_id", "created_at"],
    "orders": ["id", "user_id", "status", "total_cents", "currency", "created_at", "paid_at", "refunded_at"],
    "order_items": ["id", "order_id", "product_id", "quantity", "unit_price_cents"],
    "payments": [
        "id",
        "order_id",
        "provider",
        "amount_cents",
        "currency",
        "status",
        "attempts",
        "idempotency_key",
        "failure_reason",
        "created_at",
        "updated_at",
        "provider_ref",
    ],
    "page_views": ["id", "visitor_id", "user_id", "path", "product_id", "occurred_at"],
    "referrals": ["id", "referrer_id", "referred_id", "created_at"],
    "commissions": [
        "id",
        "order_id",
        "referrer_id",
        "level",
        "rate_bps",
        "amount_cents",
        "status",
        "created_at",
        "reversed_at",
    ],
    "analytics_aggregates": ["period_type", "period_start", "metric", "value", "computed_at"],
    "reports": ["id", "kind", "period_start", "period_end", "format", "path", "sha256", "size", "created_at"],
}


@pytest.fixture
def engine(database_url):
    engine = new_engine(database_url)
    yield engine
    engine.dispose()


def _shape(engine, table: str) -> dict:
    """What the database says about a table, in comparable form."""
    insp = inspect(engine)
    return {
        "columns": [
            (c["name"], c["type"].compile(engine.dialect), c["nullable"]) for c in insp.get_columns(table)
        ],
        "primary_key": insp.get_pk_constraint(table)["constrained_columns"],
        "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
        "indexes": sorted(
            (i["name"], tuple(i["column_names"]))
            for i in insp.get_indexes(table)
            if not i.get("duplicates_constraint")
        ),
        "foreign_keys": sorted(
            (tuple(f["constrained_columns"]), f["referred_table"]) for f in insp.get_foreign_keys(table)
        ),
    }


def _declared(engine, table) -> dict:
    """The same facts from schema.py."""
    uniques = {tuple(c.name for c in u.columns) for u in table.constraints if isinstance(u, UniqueConstraint)}
    uniques |= {(c.name,) for c in table.columns if c.unique}
    return {
        "columns": [(c.name, c.type.compile(engine.dialect), c.nullable) for c in table.columns],
        "primary_key": [c.name for c in table.primary_key.columns],
        "unique": sorted(uniques),
        "indexes": sorted((i.name, tuple(c.name for c in i.columns)) for i in table.indexes),
        "foreign_keys": sorted(((f.parent.name,), f.column.table.name) for f in table.foreign_keys),
    }


def test_migrate_from_empty_creates_every_table_as_declared(engine):
    applied = migrations.migrate(engine)
    assert [m["version"] for m in applied] == [m.version for m in migrations.MIGRATIONS]
    insp = inspect(engine)
    assert set(insp.get_table_names()) == set(EXPECTED_COLUMNS) | {"jobctl_schema_migrations"}
    for name, columns in EXPECTED_COLUMNS.items():
        assert [c["name"] for c in insp.get_columns(name)] == columns, name
        # schema.py (what queries use) and the migrations (what built the database) agree
        assert _shape(engine, name) == _declared(engine, schema.metadata.tables[name]), name


def test_money_timestamps_and_keys_have_the_agreed_types(engine):
    migrations.migrate(engine)
    insp = inspect(engine)
    types = {(t, c["name"]): c["type"] for t in EXPECTED_COLUMNS for c in insp.get_columns(t)}
    assert types[("page_views", "occurred_at")].python_type.__name__ == "datetime"
    assert types[("reports", "period_start")].python_type.__name__ == "date"
    assert types[("analytics_aggregates", "value")].python_type.__name__ == "Decimal"
    if engine.dialect.name == "postgresql":
        assert str(types[("orders", "total_cents")]) == "BIGINT"
        assert str(types[("page_views", "id")]) == "BIGINT"
        assert types[("orders", "created_at")].timezone is False  # naive UTC
    indexes = _shape(engine, "page_views")["indexes"]
    assert ("ix_page_views_occurred_at_visitor_id", ("occurred_at", "visitor_id")) in indexes
    assert inspect(engine).get_pk_constraint("analytics_aggregates")["constrained_columns"] == [
        "period_type",
        "period_start",
        "metric",
    ]


def test_new_rows_get_ids_and_defaults(engine):
    """Autoincrement works on both backends (SQLite needs exactly INTEGER PRIMARY KEY)."""
    from datetime import datetime

    migrations.migrate(engine)
    now = datetime(2026, 11, 1, 12, 0)
    with engine.begin() as conn:
        uid = conn.execute(
            schema.users.insert().values(email="a@example.com", name="A", country="US", created_at=now)
        ).inserted_primary_key[0]
        order = schema.orders.insert().values(
            user_id=uid, status="pending", total_cents=100, currency="USD", created_at=now
        )
        oid = conn.execute(order).inserted_primary_key[0]
        conn.execute(
            schema.payments.insert().values(
                order_id=oid,
                provider="stripe",
                amount_cents=100,
                currency="USD",
                status="pending",
                created_at=now,
                updated_at=now,
            )
        )
        vid = conn.execute(
            schema.page_views.insert().values(visitor_id="u1", path="/", occurred_at=now)
        ).inserted_primary_key[0]
        assert (uid, oid, vid) == (1, 1, 1)
        assert conn.scalar(select(schema.payments.c.attempts)) == 0


def test_rerun_is_a_noop_and_status_tells_before_and_after(engine):
    before = migrations.status(engine)
    assert before["current_version"] == 0
    assert before["latest_version"] == migrations.LATEST
    assert [p["version"] for p in before["pending"]] == [m.version for m in migrations.MIGRATIONS]
    assert before["applied"] == [] and before["ahead"] is False

    assert migrations.migrate(engine)
    assert migrations.migrate(engine) == []
    after = migrations.status(engine)
    assert after["current_version"] == migrations.LATEST and after["pending"] == []
    assert [a["version"] for a in after["applied"]] == [m.version for m in migrations.MIGRATIONS]
    with engine.connect() as conn:
        recorded = conn.scalar(text("SELECT COUNT(*) FROM jobctl_schema_migrations"))
    assert recorded == len(migrations.MIGRATIONS)


def test_ensure_schema_migrates_once(engine, database_url):
    applied = migrations.ensure_schema(engine)
    assert [m["version"] for m in applied] == [m.version for m in migrations.MIGRATIONS]
    assert migrations.ensure_schema(engine) == []
    other = new_engine(database_url)  # another process's view: finds it current without migrating
    try:
        assert migrations.ensure_schema(other) == []
    finally:
        other.dispose()


def test_concurrent_migrations_apply_once(database_url):
    engines = [new_engine(database_url) for _ in range(3)]
    barrier = threading.Barrier(len(engines))
    results: list = []
    errors: list = []

    def run(engine):
        barrier.wait()
        try:
            results.append(migrations.migrate(engine))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        applied = sorted(m["version"] for r in results for m in r)
        assert applied == [m.version for m in migrations.MIGRATIONS]
        assert migrations.status(engines[0])["pending"] == []
    finally:
        for e in engines:
            e.dispose()


def test_two_processes_migrating_at_once_apply_once(database_url):
    code = (
        "import json, sys\n"
        "from jobctl.data.engine import new_engine\n"
        "from jobctl.data.migrations import migrate\n"
        "print(json.dumps([m['version'] for m in migrate(new_engine(sys.argv[1]))]))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    applied = sorted(v for out, _ in outputs for v in json.loads(out))
    assert applied == [m.version for m in migrations.MIGRATIONS]


def test_a_migration_that_fails_leaves_nothing_behind(engine, monkeypatch):
    def broken(conn):
        conn.execute(text("CREATE TABLE half_done (id INTEGER PRIMARY KEY)"))
        raise RuntimeError("boom")

    broken_list = (*migrations.MIGRATIONS, migrations.Migration(migrations.LATEST + 1, "broken", broken))
    monkeypatch.setattr(migrations, "MIGRATIONS", broken_list)
    with pytest.raises(RuntimeError):
        migrations.migrate(engine)
    assert not inspect(engine).has_table("half_done")
    status = migrations.status(engine)
    assert status["current_version"] == migrations.LATEST  # the good ones stay applied
    assert [p["version"] for p in status["pending"]] == [migrations.LATEST + 1]


def test_a_newer_schema_is_refused(engine, database_url):
    migrations.migrate(engine)
    with engine.begin() as conn:
        conn.execute(
            migrations.history.insert().values(
                version=migrations.LATEST + 1, name="from the future", applied_at=text("CURRENT_TIMESTAMP")
            )
        )
    assert migrations.status(engine)["ahead"] is True
    with pytest.raises(JobctlError, match="newer than this jobctl"):
        migrations.migrate(engine)
    with pytest.raises(JobctlError, match="newer than this jobctl"):
        migrations.ensure_schema(new_engine(database_url))


def test_tables_jobctl_did_not_create_are_never_adopted(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY, login TEXT)"))
    with pytest.raises(JobctlError, match="already has tables jobctl would create: users"):
        migrations.migrate(engine)
    assert [c["name"] for c in inspect(engine).get_columns("users")] == ["id", "login"]
    assert migrations.status(engine)["current_version"] == 0


def test_engine_for_gives_a_migrated_engine(db_settings):
    from jobctl.data import engine_for

    engine = engine_for(db_settings)
    assert engine is engine_for(db_settings)
    assert migrations.status(engine)["pending"] == []


def test_version_1_stores_upgrade_to_the_latest(engine):
    """A store left at version 1 (before payments.provider_ref) gains the column and keeps its rows."""
    from sqlalchemy import text

    with engine.begin() as conn:
        migrations.history.create(conn)
        migrations.MIGRATIONS[0].apply(conn)
        conn.execute(
            migrations.history.insert().values(
                version=1, name="marketplace tables", applied_at=migrations._now()
            )
        )
        conn.execute(
            text(
                "INSERT INTO users (id, email, name, country, created_at) "
                "VALUES (1, 'a@example.com', 'A', 'DE', '2026-01-01 00:00:00')"
            )
        )
    assert [m["version"] for m in migrations.migrate(engine)] == [2]
    assert "provider_ref" in [c["name"] for c in inspect(engine).get_columns("payments")]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 1
    assert migrations.migrate(engine) == []
