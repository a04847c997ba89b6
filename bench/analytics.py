#!/usr/bin/env python3
"""Analytics roll-up time for 60 days x 100k page views a day, on SQLite (default) or PostgreSQL.

    python3 dev.py bench analytics                           # SQLite file in a temporary folder
    python3 dev.py bench analytics --database-url postgresql://postgres@127.0.0.1:5432/bench
    python3 dev.py bench analytics --days 7 --views-per-day 20000    # a quicker look

Seeds the store with `jobctl db seed`'s generator, then times each roll-up type over the whole
range, run twice (the second run rewrites the same rows: the upsert path), plus one report. The
PostgreSQL database is emptied by `replace` and must be one you can spare. Numbers are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from jobctl.config import load_settings, mask_url
from jobctl.data import engine_for
from jobctl.data.seed import timed_seed
from jobctl.jobs.analytics.job import roll_up
from jobctl.jobs.analytics.metrics import METRICS
from jobctl.jobs.reports.job import generate_report


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/analytics.py", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--views-per-day", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="jobctl-bench-analytics-"))
    try:
        url = args.database_url or f"sqlite:///{home / 'bench.db'}"
        settings = load_settings(environ={**os.environ, "JOBCTL_HOME": str(home), "DATABASE_URL": url})
        engine = engine_for(settings)
        start = date(2026, 1, 5)  # a Monday, so weeks are whole
        log(f"seeding {args.days} days x {args.views_per_day:,} views/day into {mask_url(url)}")
        seeded = timed_seed(
            engine,
            days=args.days,
            users=args.users,
            views_per_day=args.views_per_day,
            seed=1,
            start=start,
            replace=True,
        )
        begin = datetime.combine(start, datetime.min.time())
        end = begin + timedelta(days=args.days)
        rows = []
        for kind in ("daily", "hourly", "weekly", "monthly"):
            for attempt in ("first run", "re-run"):
                log(f"{kind} roll-up, {attempt}")
                started = time.perf_counter()
                result = roll_up(engine, kind, begin, end, list(METRICS))
                rows.append((kind, attempt, result["periods"], result["rows"], time.perf_counter() - started))
        log("weekly report (pdf, csv, json)")
        started = time.perf_counter()
        generate_report(settings, "weekly", start + timedelta(days=7), ["pdf", "csv", "json"], email=False)
        report_seconds = time.perf_counter() - started

        views = seeded["counts"].get("page_views", 0)
        print(
            f"\nStore: {engine.dialect.name}, {views:,} page views, "
            f"{seeded['counts'].get('orders', 0):,} orders "
            f"over {args.days} days; seeded {seeded['rows']:,} rows in {seeded['seconds']:.1f} s "
            f"({seeded['rows_per_second']:,} rows/s)"
        )
        print(
            f"{'roll-up':<9} {'run':<10} {'periods':>8} {'rows':>7} {'seconds':>8} {'ms/period':>10} "
            f"{'views/s':>12}"
        )
        for kind, attempt, periods, written, seconds in rows:
            print(
                f"{kind:<9} {attempt:<10} {periods:>8,} {written:>7,} {seconds:>8.2f} "
                f"{seconds / periods * 1000:>10.1f} {views / seconds:>12,.0f}"
            )
        print(f"\nweekly report, 3 formats: {report_seconds:.2f} s")
        return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
