"""Realistic report data for tests: a daily, a weekly and an empty (first week, no orders) report.

Each call returns a fresh dict, so a test may change it freely. The figures agree with each other
(daily rows sum to the weekly revenue and orders, average order value = revenue / orders, conversion
rate = orders / unique visitors) so they can also stand in for what the database side computes.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# product_id, name, category, units, unit price in cents; by revenue, best first
PRODUCTS = [
    (17, "Linen tote", "bags", 48, 2490),
    (42, "Walnut serving board", "kitchen", 21, 5400),
    (8, "Café crème ceramic mug", "kitchen", 52, 1850),
    (103, "Merino wool beanie", "accessories", 31, 2900),
    (56, "Beeswax candle set", "home", 37, 2200),
    (71, "Leather card holder", "accessories", 26, 3100),
    (12, "Botanical print A3", "art", 33, 2300),
    (88, "Stoneware planter", "home", 19, 3800),
    (64, "Hand-dyed silk scarf", "accessories", 14, 4900),
    (29, "Recycled paper notebook", "stationery", 58, 1150),
]

# date (Mon 16 .. Sun 22 Nov 2026), revenue cents, orders, page views, unique visitors
WEEK_DAYS = [
    ("2026-11-16", 171240, 46, 10234, 4100),
    ("2026-11-17", 158905, 42, 9876, 3950),
    ("2026-11-18", 183410, 49, 10877, 4312),
    ("2026-11-19", 176585, 47, 10512, 4188),
    ("2026-11-20", 214730, 57, 12109, 4870),
    ("2026-11-21", 239915, 63, 13480, 5291),
    ("2026-11-22", 197650, 52, 11720, 4655),
]

LABELS = {  # metric name -> label, unit; in display order
    "revenue": ("Revenue", "cents"),
    "purchases": ("Orders", "count"),
    "page_views": ("Page views", "count"),
    "unique_visitors": ("Unique visitors", "count"),
    "conversion_rate": ("Conversion rate", "ratio"),
    "average_order_value": ("Average order value", "cents"),
    "new_users": ("New users", "count"),
    "refunds": ("Refunds", "count"),
    "failed_payments": ("Failed payments", "count"),
}


def _ratio(part: int, whole: int) -> str:
    if not whole:
        return "0.000000"
    return str((Decimal(part) / whole).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))


def _average(cents: int, orders: int) -> int:
    return int((Decimal(cents) / orders).quantize(Decimal(1), rounding=ROUND_HALF_UP)) if orders else 0


def _metrics(now: dict[str, int], before: dict[str, int] | None) -> list[dict[str, Any]]:
    """The nine metrics in display order; the two derived ones computed from the others."""

    def derived(counts: dict[str, int]) -> dict[str, Any]:
        return {
            **counts,
            "conversion_rate": _ratio(counts["purchases"], counts["unique_visitors"]),
            "average_order_value": _average(counts["revenue"], counts["purchases"]),
        }

    now_all, before_all = derived(now), (derived(before) if before else {})
    return [
        {"name": name, "label": label, "unit": unit, "value": now_all[name], "previous": before_all.get(name)}
        for name, (label, unit) in LABELS.items()
    ]


def _products(count: int, scale: float = 1.0) -> list[dict[str, Any]]:
    rows = []
    for product_id, name, category, units, price in PRODUCTS[:count]:
        sold = max(1, round(units * scale))
        rows.append(
            {
                "product_id": product_id,
                "name": name,
                "category": category,
                "units": sold,
                "revenue": sold * price,
            }
        )
    return sorted(rows, key=lambda row: -row["revenue"])


def daily_report_data() -> dict[str, Any]:
    """Saturday 28 November 2026 against the Friday before; revenue $12,345.67 (+12.2%)."""
    now = {
        "revenue": 1234567,
        "purchases": 312,
        "page_views": 98231,
        "unique_visitors": 9984,
        "new_users": 211,
        "refunds": 4,
        "failed_payments": 9,
    }
    before = {
        "revenue": 1100000,
        "purchases": 290,
        "page_views": 101204,
        "unique_visitors": 10000,
        "new_users": 198,
        "refunds": 7,
        "failed_payments": 0,
    }
    return {
        "kind": "daily",
        "title": "Daily report, Saturday 28 November 2026",
        "period": {"start": "2026-11-28", "end": "2026-11-28"},
        "previous_period": {"start": "2026-11-27", "end": "2026-11-27"},
        "generated_at": "2026-11-29T06:00:03+00:00",
        "currency": "USD",
        "metrics": _metrics(now, before),
        "daily": [
            {
                "date": "2026-11-28",
                "revenue": 1234567,
                "purchases": 312,
                "page_views": 98231,
                "unique_visitors": 9984,
            }
        ],
        "top_products": _products(5, scale=0.4),
    }


def weekly_report_data() -> dict[str, Any]:
    """Mon 16 - Sun 22 November 2026 against the week before: 7 days, 10 products, all previous values."""
    now = {
        "revenue": sum(d[1] for d in WEEK_DAYS),
        "purchases": sum(d[2] for d in WEEK_DAYS),
        "page_views": sum(d[3] for d in WEEK_DAYS),
        "unique_visitors": 24117,  # less than the days' sum: people come back on several days
        "new_users": 402,
        "refunds": 6,
        "failed_payments": 11,
    }
    before = {
        "revenue": 1187920,
        "purchases": 331,
        "page_views": 71250,
        "unique_visitors": 22984,
        "new_users": 377,
        "refunds": 9,
        "failed_payments": 11,
    }
    return {
        "kind": "weekly",
        "title": "Weekly report, 16–22 November 2026",
        "period": {"start": "2026-11-16", "end": "2026-11-22"},
        "previous_period": {"start": "2026-11-09", "end": "2026-11-15"},
        "generated_at": "2026-11-23T06:00:00+00:00",
        "currency": "USD",
        "metrics": _metrics(now, before),
        "daily": [
            {
                "date": day,
                "revenue": revenue,
                "purchases": orders,
                "page_views": views,
                "unique_visitors": visitors,
            }
            for day, revenue, orders, views, visitors in WEEK_DAYS
        ],
        "top_products": _products(10),
    }


def empty_report_data(kind: str = "weekly") -> dict[str, Any]:
    """The first period ever with no orders: zero revenue, no previous period, no top products."""
    data = weekly_report_data() if kind == "weekly" else daily_report_data()
    data["title"] = f"{kind.capitalize()} report (no orders)"
    data["previous_period"] = None
    zero = {
        "revenue": 0,
        "purchases": 0,
        "page_views": 0,
        "unique_visitors": 0,
        "new_users": 0,
        "refunds": 0,
        "failed_payments": 0,
    }
    data["metrics"] = _metrics(zero, None)
    data["daily"] = [
        {**row, "revenue": 0, "purchases": 0, "page_views": 0, "unique_visitors": 0} for row in data["daily"]
    ]
    data["top_products"] = []
    return data
