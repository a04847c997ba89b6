"""jobctl db migrate|status|seed"""

from __future__ import annotations

from datetime import date, timedelta

import typer
from rich.table import Table

from jobctl.cli.common import JsonOption, confirm, emit_json, new_app, state, stdout
from jobctl.cli.progress import progress_bar
from jobctl.config import Settings, mask_url
from jobctl.errors import UsageError

# jobctl.data (SQLAlchemy) is imported inside the commands: every other command starts without it

app = new_app("The marketplace data store (DATABASE_URL): schema migrations, status, sample data.")

YesOption = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")
STAGES = {"users": "users", "products": "products", "activity": "days of page views and orders"}


def _where(settings: Settings, backend: str) -> dict:
    return {"url": mask_url(settings.database), "backend": backend}


@app.command("migrate")
def migrate(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Apply pending schema migrations (safe to repeat, and to run from two places at once)."""
    # lazy: SQLAlchemy, ~200 ms of start-up for every other command
    from jobctl.data import migrations
    from jobctl.data.engine import get_engine

    settings = state(ctx).settings
    engine = get_engine(settings)
    applied = migrations.migrate(engine)
    info = migrations.status(engine)
    doc = {
        **_where(settings, info["backend"]),
        "applied": applied,
        "current_version": info["current_version"],
        "latest_version": info["latest_version"],
    }
    if as_json:
        emit_json(doc)
        return
    for m in applied:
        stdout.print(
            f"applied {m['version']}: {m['name']} ({m['seconds']:.2f} s)", highlight=False, markup=False
        )
    state_line = "up to date" if applied else "already up to date, nothing to do"
    stdout.print(
        f"schema version {doc['current_version']}, {state_line}: {doc['url']}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@app.command("status")
def status(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Which database, its schema version and pending migrations, rows per table."""
    # lazy: SQLAlchemy, ~200 ms of start-up for every other command
    from jobctl.data import migrations
    from jobctl.data.engine import get_engine
    from jobctl.data.seed import row_counts

    settings = state(ctx).settings
    engine = get_engine(settings)
    info = migrations.status(engine)
    doc = {
        **_where(settings, info["backend"]),
        **{k: v for k, v in info.items() if k != "backend"},
        "tables": row_counts(engine),
    }
    if as_json:
        emit_json(doc)
        return
    stdout.print(f"database  {doc['url']} ({doc['backend']})", highlight=False, markup=False, soft_wrap=True)
    version = f"schema    version {doc['current_version']} of {doc['latest_version']}"
    if doc["ahead"]:
        version += ": newer than this jobctl, upgrade jobctl"
    elif doc["pending"]:
        names = ", ".join(f"{m['version']} {m['name']}" for m in doc["pending"])
        version += f"; pending: {names} (jobctl db migrate)"
    else:
        version += ", up to date"
    stdout.print(version, highlight=False, markup=False, soft_wrap=True)
    table = Table("table", "rows", box=None, pad_edge=False)
    table.columns[1].justify = "right"
    for name, rows in doc["tables"].items():
        table.add_row(name, "-" if rows is None else f"{rows:,}")
    stdout.print(table)


def _parse_start(text: str | None, days: int) -> date:
    # lazy: SQLAlchemy, ~200 ms of start-up for every other command
    from jobctl.data.seed import default_start

    if text is None:
        return default_start(days)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--start expects a date YYYY-MM-DD, got {text!r}", "e.g. --start 2026-09-01"
        ) from None


@app.command("seed")
def seed(
    ctx: typer.Context,
    days: int = typer.Option(60, "--days", min=1, max=3660, help="Days of activity."),
    users: int = typer.Option(
        5000, "--users", min=10, max=10_000_000, help="Users (a fifth signed up before the first day)."
    ),
    seed_: int = typer.Option(
        42, "--seed", help="Random seed: the same seed, sizes and --start give the same rows."
    ),
    start: str | None = typer.Option(
        None,
        "--start",
        help="First day (UTC), YYYY-MM-DD. Default: DAYS days before today, so the data ends yesterday.",
    ),
    views_per_day: int | None = typer.Option(
        None, "--views-per-day", min=0, max=10_000_000, help="Average page views a day (default: 2 per user)."
    ),
    replace: bool = typer.Option(False, "--replace", help="Delete the marketplace rows first (not reports)."),
    yes: bool = YesOption,
    as_json: bool = JsonOption,
) -> None:
    """Fill the store with realistic sample data (migrating it first if needed); refuses if it holds data."""
    # lazy: SQLAlchemy, ~200 ms of start-up for every other command
    from jobctl.data import migrations
    from jobctl.data.engine import get_engine
    from jobctl.data.seed import default_views_per_day, existing_data, refuse_existing, timed_seed

    first_day = _parse_start(start, days)
    settings = state(ctx).settings
    engine = get_engine(settings)
    migrated = migrations.ensure_schema(engine)
    existing = existing_data(engine)
    if not replace:
        refuse_existing(existing)  # before the progress bar starts
    elif existing:
        confirm(
            f"Delete {sum(existing.values()):,} rows ({', '.join(existing)}) "
            f"in {mask_url(settings.database)} and seed again?",
            yes,
            as_json,
        )
    views = default_views_per_day(users) if views_per_day is None else views_per_day
    # no unit: the stages count unlike things (users, products, days)
    with progress_bar("seeding {task.description}", as_json=as_json, unit="") as bar:

        def show(done: int, total: int | None, stage: str) -> None:
            bar.update(done, total, STAGES.get(stage, stage))

        result = timed_seed(
            engine,
            days=days,
            users=users,
            seed=seed_,
            start=first_day,
            views_per_day=views,
            replace=replace,
            on_progress=show,
        )
    doc = {
        **_where(settings, engine.dialect.name),
        "migrated": migrated,
        "replaced": bool(existing),
        "seed": seed_,
        "days": days,
        "users": users,
        "views_per_day": views,
        "start": first_day.isoformat(),
        "end": (first_day + timedelta(days=days - 1)).isoformat(),
        **result,
    }
    if as_json:
        emit_json(doc)
        return
    for m in migrated:
        stdout.print(f"applied migration {m['version']}: {m['name']}", highlight=False, markup=False)
    table = Table("table", "rows", box=None, pad_edge=False)
    table.columns[1].justify = "right"
    for name, rows in result["counts"].items():
        table.add_row(name, f"{rows:,}")
    stdout.print(table)
    stdout.print(
        f"seeded {result['rows']:,} rows in {result['seconds']:.1f} s "
        f"({result['rows_per_second']:,} rows/s), {doc['start']} to {doc['end']} (UTC), "
        f"seed {seed_}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    stdout.print(f"into {doc['url']}", highlight=False, markup=False, soft_wrap=True)
