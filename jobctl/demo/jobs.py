"""What `jobctl demo` enqueues: a marketplace's day on all seven job queues, plus a few uploads that
arrive cut short, dead-letter, and are replayed once their upload is complete.

Jobs are given as fields and go through jobctl.core.submit, the road every other way in takes, so
the demo exercises the real validation; the data store it reads is the demo's own (see jobctl.demo).
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy import select

from jobctl.data import engine_for, schema
from jobctl.data.seed import DECLINED_AGAIN, existing_data
from jobctl.data.seed import seed as seed_store

FIRST = ["Ann", "Bob", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivan", "Jia", "Kofi", "Lena"]
LAST = ["Ivanova", "Smith", "Okafor", "Tanaka", "Garcia", "Novak", "Kim", "Silva", "Müller", "Haddad"]
PRODUCTS = [
    ("Handmade ceramic mug", "18.50"),
    ("Linen tote bag", "24.00"),
    ("Vintage poster", "39.90"),
    ("Walnut phone stand", "29.00"),
    ("Soy candle, cedar", "14.75"),
    ("Leather notebook", "32.00"),
]
SHOP = "https://marketplace.example"
DEMO_DAYS, DEMO_USERS = 14, 2000
COMMISSION_ORDERS = 12  # paid orders of referred buyers whose commissions the demo settles
PAYMENT_RETRIES = 10  # failed payments retried (each paid one also queues a receipt and commissions)
# (name, format, size, processing type, options): product photos as sellers upload them
UPLOADS = [
    ("mug.jpg", "JPEG", (1200, 900), "thumbnail", {}),
    ("tote.jpg", "JPEG", (1024, 1024), "thumbnail", {}),
    ("poster.png", "PNG", (900, 1200), "image_optimize", {}),
    ("stand.jpg", "JPEG", (1280, 720), "format_convert", {"target": "webp"}),
    ("candle.png", "PNG", (800, 800), "thumbnail", {"sizes": "150x150,300x300", "format": "webp"}),
]
# uploads whose first copy is cut short (half the bytes): their jobs dead-letter, then are replayed
CUT_SHORT = [
    ("notebook.jpg", "JPEG", (1200, 800), "thumbnail", {}),
    ("poster-b.jpg", "JPEG", (900, 900), "image_optimize", {}),
    ("mug-b.jpg", "JPEG", (1000, 750), "thumbnail", {}),
]


@dataclass
class JobGroup:
    """Jobs of one type enqueued together (their fields, see jobctl.core.contracts); `label` is what
    the summary calls them."""

    job_type: str
    label: str
    fields: list[dict[str, Any]]
    priority: str | None = None


@dataclass
class DemoPlan:
    groups: list[JobGroup] = field(default_factory=list)
    seeded_rows: int = 0
    # cut-short uploads: path -> the complete bytes, written before the dead jobs are replayed
    pending_uploads: dict[Path, bytes] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(len(g.fields) for g in self.groups)


def _people(rng: random.Random, n: int) -> Iterator[tuple[str, str]]:
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        yield f"{first} {last}", f"{first.lower()}.{i}@example.com"


def email_batches(rng: random.Random, campaign_size: int) -> list[tuple[str, str, list[tuple[str, dict]]]]:
    """(template, priority, [(address, data)]) groups that look like a marketplace's day."""
    welcome = [(a, {"name": n, "login_url": f"{SHOP}/login"}) for n, a in _people(rng, 25)]
    resets = [
        (a, {"name": n, "reset_url": f"{SHOP}/reset/{rng.getrandbits(64):x}", "expires_in_minutes": 30})
        for n, a in _people(rng, 10)
    ]
    orders = []
    for n, a in _people(rng, 30):
        items = [
            {"name": p, "quantity": rng.randint(1, 3), "unit_price": price}
            for p, price in rng.sample(PRODUCTS, rng.randint(1, 3))
        ]
        order_id = f"ORD-{rng.randint(100000, 999999)}"
        orders.append(
            (
                a,
                {
                    "name": n,
                    "order_id": order_id,
                    "items": items,
                    "shipping": "4.90",
                    "currency": "EUR",
                    "order_url": f"{SHOP}/orders/{order_id}",
                },
            )
        )
    failed = [
        (
            a,
            {
                "name": n,
                "amount": "59.00",
                "currency": "EUR",
                "reason": "card declined",
                "order_id": f"ORD-{rng.randint(100000, 999999)}",
                "retry_date": "2026-12-01",
                "update_payment_url": f"{SHOP}/billing",
            },
        )
        for n, a in _people(rng, 5)
    ]
    reports = [
        (
            a,
            {
                "name": n,
                "report_name": "Daily sales",
                "period": "yesterday",
                "download_url": f"{SHOP}/reports/daily",
            },
        )
        for n, a in _people(rng, 3)
    ]
    campaign = [
        (
            a,
            {
                "name": n,
                "headline": "Winter makers' market",
                "body": "Forty new shops opened this week.",
                "cta_text": "Browse the market",
                "cta_url": f"{SHOP}/winter",
                "unsubscribe_url": f"{SHOP}/unsubscribe",
            },
        )
        for n, a in _people(rng, campaign_size)
    ]
    return [
        ("welcome", "high", welcome),
        ("password-reset", "high", resets),
        ("order-confirmation", "normal", orders),
        ("payment-failed", "normal", failed),
        ("report-ready", "low", reports),
        ("marketing-campaign", "low", campaign),
    ]


def _sales_csv(folder: Path, rng: random.Random) -> Path:
    """A small sales report for the report-ready emails to carry as an attachment."""
    path = folder / "daily-sales.csv"
    lines = ["product,orders,revenue_eur"]
    lines += [f"{name},{(n := rng.randint(3, 40))},{float(price) * n:.2f}" for name, price in PRODUCTS]
    path.write_text("\n".join(lines) + "\n")
    return path


def email_groups(settings, rng: random.Random, campaign_size: int, folder: Path) -> list[JobGroup]:
    report = _sales_csv(folder, rng)
    groups = []
    for template, priority, rows in email_batches(rng, campaign_size):
        attachments = [str(report)] if template == "report-ready" else []
        fields = [
            {"to": address, "template": template, "data": data, "attachments": attachments}
            for address, data in rows
        ]
        groups.append(JobGroup("email", template, fields, priority))
    return groups


def sample_image(fmt: str, size: tuple[int, int], rng: random.Random) -> bytes:
    """A product-photo stand-in: a gradient backdrop with a few shapes (compresses like a photo, roughly)."""
    width, height = size
    top, bottom = [tuple(rng.randint(40, 230) for _ in range(3)) for _ in range(2)]
    gradient = Image.linear_gradient("L").resize(size)
    image = Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), gradient)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randint(min(size) // 12, min(size) // 4)
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x - r, y - r, x + r, y + r), fill=colour)
    out = io.BytesIO()
    image.save(out, fmt, quality=90) if fmt == "JPEG" else image.save(out, fmt)
    return out.getvalue()


def file_groups(settings, rng: random.Random, folder: Path) -> tuple[list[JobGroup], dict[Path, bytes]]:
    """Sample images written to `folder` and their file jobs; the cut-short ones come back separately."""
    uploads = folder / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    payloads, late, pending = [], [], {}
    for n, (name, fmt, size, processing, options) in enumerate(UPLOADS + CUT_SHORT, start=1):
        data = sample_image(fmt, size, rng)
        path = uploads / name
        cut_short = n > len(UPLOADS)
        # a cut-short upload: half its bytes are there when the job runs, the size says the whole
        path.write_bytes(data[: len(data) // 2] if cut_short else data)
        payload = {
            "file_id": f"demo-{n}",
            "file_url": str(path),
            "file_name": name,
            "file_type": f"image/{fmt.lower()}",
            "file_size": len(data),
            "user_id": str(100 + n),
            "product_id": str(n),
            "processing_type": processing,
            "options": options,
        }
        (late if cut_short else payloads).append(payload)
        if cut_short:
            pending[path] = data
    return [
        JobGroup("file", "product images", payloads),
        JobGroup("file", "uploads cut short", late),
    ], pending


def store_groups(settings) -> tuple[int, list[JobGroup]]:
    """Seed the (empty) demo store, then jobs that read it: roll-ups, reports, commissions."""
    engine = engine_for(settings)
    seeded = 0
    if not existing_data(engine):
        seeded = sum(seed_store(engine, days=DEMO_DAYS, users=DEMO_USERS).values())
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    days = [yesterday - timedelta(days=n) for n in range(DEMO_DAYS - 1, -1, -1)]
    rollups = [{"type": "daily", "start": day.isoformat(), "end": day.isoformat()} for day in days]
    report = {"date": yesterday.isoformat(), "formats": ["pdf", "csv", "json"], "email": False}
    commissions = [{"order_id": order} for order in referred_orders(engine, COMMISSION_ORDERS)]
    return seeded, [
        JobGroup("analytics", "analytics", rollups),
        JobGroup("daily-report", "daily-report", [report]),
        JobGroup("weekly-report", "weekly-report", [dict(report)]),
        JobGroup("referral-commission", "referral-commission", commissions),
    ]


def referred_orders(engine, limit: int) -> list[int]:
    """The newest paid orders whose buyer was referred: their referrers earn commissions."""
    query = (
        select(schema.orders.c.id)
        .join(schema.users, schema.users.c.id == schema.orders.c.user_id)
        .where(schema.users.c.referred_by.is_not(None), schema.orders.c.status == "paid")
        .order_by(schema.orders.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [row.id for row in conn.execute(query)]


def payment_groups(settings) -> list[JobGroup]:
    """Retries of the store's newest failed payments that will go through now (an expired card since
    replaced, a passing outage), charged through the sandbox provider (see demo_run.start_payments).
    The seed's other failed payments carry refs the sandbox declines again: left alone, as they
    would only dead-letter."""
    payments, orders = schema.payments, schema.orders
    query = (
        select(
            payments.c.id, payments.c.provider, payments.c.amount_cents, payments.c.currency, orders.c.user_id
        )
        .join(orders, orders.c.id == payments.c.order_id)
        .where(payments.c.status == "failed", payments.c.failure_reason.not_in(DECLINED_AGAIN))
        .order_by(payments.c.id.desc())
        .limit(PAYMENT_RETRIES)
    )
    with engine_for(settings).connect() as conn:
        rows = list(conn.execute(query))
    return [
        JobGroup(
            "payment-retry",
            "payment-retry",
            [
                {
                    "payment_id": row.id,
                    "provider": row.provider,
                    "amount": row.amount_cents,
                    "currency": row.currency,
                    "customer_id": str(row.user_id),
                }
                for row in rows
            ],
        )
    ]


def build_plan(settings, rng: random.Random, campaign_size: int, folder: Path) -> DemoPlan:
    seeded, store = store_groups(settings)
    files, pending = file_groups(settings, rng, folder)
    groups = email_groups(settings, rng, campaign_size, folder) + files + store + payment_groups(settings)
    return DemoPlan([g for g in groups if g.fields], seeded, pending)
