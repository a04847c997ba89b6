"""`jobctl demo`: a realistic batch of marketplace jobs run by real workers, start to finish.

Mail goes to the outbox (never a real SMTP server), whatever EMAIL_PROVIDER says. An empty data
store is seeded first (DEMO_DAYS of sample data ending yesterday), so the analytics roll-ups and
the daily and weekly reports have something to count.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from jobctl.config import Settings, Value
from jobctl.core import embedded
from jobctl.core.connection import connect
from jobctl.core.enqueue import enqueue_many
from jobctl.core.stats import queue_stats
from jobctl.core.supervisor import WorkerSpec, run_workers

FIRST = ["Ann", "Bob", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivan", "Jia", "Kofi", "Lena"]
LAST = ["Ivanova", "Smith", "Okafor", "Tanaka", "Garcia", "Novak", "Kim", "Silva", "Müller", "Haddad"]
PRODUCTS = [("Handmade ceramic mug", "18.50"), ("Linen tote bag", "24.00"), ("Vintage poster", "39.90"),
            ("Walnut phone stand", "29.00"), ("Soy candle, cedar", "14.75"), ("Leather notebook", "32.00")]
SHOP = "https://marketplace.example"
DEMO_DAYS, DEMO_USERS = 14, 2000
QUEUES = ["email-sending", "analytics-aggregation", "daily-reports", "weekly-reports"]


@dataclass
class DemoResult:
    enqueued: int
    completed: int
    failed: int
    elapsed: float
    outbox: str
    by_template: dict[str, int]
    server: str
    reports: str = ""
    seeded_rows: int = 0

    @property
    def throughput(self) -> float:
        return self.completed / self.elapsed if self.elapsed else 0.0


def _people(rng: random.Random, n: int) -> Iterator[tuple[str, str]]:
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        yield f"{first} {last}", f"{first.lower()}.{i}@example.com"


def demo_batches(rng: random.Random, campaign_size: int) -> list[tuple[str, str, list[tuple[str, dict]]]]:
    """(template, priority, [(address, data)]) groups that look like a marketplace's day."""
    welcome = [(a, {"name": n, "login_url": f"{SHOP}/login"}) for n, a in _people(rng, 25)]
    resets = [(a, {"name": n, "reset_url": f"{SHOP}/reset/{rng.getrandbits(64):x}", "expires_in_minutes": 30})
              for n, a in _people(rng, 10)]
    orders = []
    for n, a in _people(rng, 30):
        items = [{"name": p, "quantity": rng.randint(1, 3), "unit_price": price}
                 for p, price in rng.sample(PRODUCTS, rng.randint(1, 3))]
        order_id = f"ORD-{rng.randint(100000, 999999)}"
        orders.append((a, {"name": n, "order_id": order_id, "items": items, "shipping": "4.90",
                           "currency": "EUR", "order_url": f"{SHOP}/orders/{order_id}"}))
    failed = [(a, {"name": n, "amount": "59.00", "currency": "EUR", "reason": "card declined",
                   "order_id": f"ORD-{rng.randint(100000, 999999)}",
                   "retry_date": "2026-12-01", "update_payment_url": f"{SHOP}/billing"})
              for n, a in _people(rng, 5)]
    reports = [(a, {"name": n, "report_name": "Daily sales", "period": "yesterday",
                    "download_url": f"{SHOP}/reports/daily"}) for n, a in _people(rng, 3)]
    campaign = [(a, {"name": n, "headline": "Winter makers' market", "body": "Forty new shops opened this week.",
                     "cta_text": "Browse the market", "cta_url": f"{SHOP}/winter",
                     "unsubscribe_url": f"{SHOP}/unsubscribe"}) for n, a in _people(rng, campaign_size)]
    return [("welcome", "high", welcome), ("password-reset", "high", resets), ("order-confirmation", "normal", orders),
            ("payment-failed", "normal", failed), ("report-ready", "low", reports),
            ("marketing-campaign", "low", campaign)]


def _sales_csv(folder: Path, rng: random.Random) -> Path:
    """A small sales report for the report-ready emails to carry as an attachment."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "daily-sales.csv"
    lines = ["product,orders,revenue_eur"]
    lines += [f"{name},{(n := rng.randint(3, 40))},{float(price) * n:.2f}" for name, price in PRODUCTS]
    path.write_text("\n".join(lines) + "\n")
    return path


def _workers_main(settings: Settings, concurrency: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us with SIGTERM
    run_workers(settings, [WorkerSpec(QUEUES) for _ in range(concurrency)])


def _for_demo(settings: Settings) -> Settings:
    """Outbox mail whatever EMAIL_PROVIDER says, and quiet workers: the progress bar tells the story."""
    values = dict(settings.values)
    values["email_provider"] = Value("outbox", "demo")
    values["log_level"] = Value("WARNING", "demo")
    return replace(settings, values=values)


def run_demo(settings: Settings, *, campaign_size: int = 300, concurrency: int = 2, seed: int = 7,
             timeout: float = 300, on_progress: Callable[[dict[str, Any]], None] | None = None) -> DemoResult:
    from jobctl.jobs.email import prepare_email_payload

    settings = _for_demo(settings)
    home = settings.home_path
    started_server = not settings.redis_url and not embedded.status(home)["running"]
    connection = connect(settings)
    server = "embedded" if not settings.redis_url else "REDIS_URL"
    outbox = Path(home) / "outbox"

    rng = random.Random(seed)
    report = _sales_csv(Path(home) / "demo", rng)
    groups = [(template, prio, [prepare_email_payload(settings, to=a, template=template, data=d,
                                                      attachments=[report] if template == "report-ready" else [])
                                for a, d in rows])
              for template, prio, rows in demo_batches(rng, campaign_size)]
    seeded_rows, store_jobs = _store_jobs(settings)
    groups += store_jobs
    total = sum(len(p) for _, _, p in groups)

    def outstanding() -> tuple[int, int]:
        stats = queue_stats(connection, settings)
        totals = [q["totals"] for q in stats["queues"] if q["queue"] in QUEUES]
        return (sum(t["waiting"] + t["active"] + t["scheduled"] for t in totals),
                sum(t["failed"] for t in totals) + stats["dead_letter"])

    _, failed_before = outstanding()
    ctx = multiprocessing.get_context("spawn")
    workers = ctx.Process(target=_workers_main, args=(settings, concurrency), name="jobctl-demo-workers")
    workers.start()
    t0 = time.perf_counter()
    try:
        for name, prio, payloads in groups:
            job_type = name if name in ("analytics", "daily-report", "weekly-report") else "email"
            enqueue_many(connection, settings, job_type, payloads, priority=prio, description=f"{job_type} {name}")
        deadline = time.monotonic() + timeout
        while True:
            left, failed_now = outstanding()
            if on_progress:
                on_progress({"total": total, "done": total - left, "failed": failed_now - failed_before})
            if left == 0 or time.monotonic() > deadline or not workers.is_alive():
                break
            time.sleep(0.1)
        elapsed = time.perf_counter() - t0
    finally:
        if workers.is_alive():
            os.kill(workers.pid, signal.SIGTERM)
        workers.join(30)
        if workers.is_alive():
            workers.kill()
        connection.close()
        if started_server:
            embedded.stop(home)
    failed = failed_now - failed_before
    return DemoResult(enqueued=total, completed=total - left - failed, failed=failed, elapsed=elapsed,
                      outbox=str(outbox), by_template={t: len(p) for t, _, p in groups}, server=server,
                      reports=str(settings.storage_path / "reports"), seeded_rows=seeded_rows)


def _store_jobs(settings: Settings) -> tuple[int, list[tuple[str, None, list[dict]]]]:
    """Seed an empty store, then a daily roll-up per day of its last DEMO_DAYS and yesterday's reports."""
    from datetime import datetime, timedelta, timezone

    from jobctl.data import engine_for
    from jobctl.data.seed import existing_data
    from jobctl.data.seed import seed as seed_store
    from jobctl.jobs.analytics.job import prepare_analytics_payload

    engine = engine_for(settings)
    seeded = 0 if existing_data(engine) else sum(seed_store(engine, days=DEMO_DAYS, users=DEMO_USERS).values())
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    days = [yesterday - timedelta(days=n) for n in range(DEMO_DAYS - 1, -1, -1)]
    rollups = [prepare_analytics_payload("daily", (day, day)) for day in days]
    report = {"date": yesterday.isoformat(), "formats": ["pdf", "csv", "json"], "email": False}
    return seeded, [("analytics", None, rollups), ("daily-report", None, [report]),
                    ("weekly-report", None, [dict(report)])]
