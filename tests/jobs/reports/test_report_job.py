"""Reports generated from a seeded store (SQLite and PostgreSQL): files, table rows, figures, email."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from rq import Queue
from sqlalchemy import select

from jobctl.core.payloads import PayloadSerializer
from jobctl.data import engine_for
from jobctl.data.schema import order_items, orders, page_views, reports
from jobctl.data.seed import seed
from jobctl.errors import PermanentJobFailure, UsageError
from jobctl.jobs.reports.data import default_day
from jobctl.jobs.reports.job import generate_report, list_reports, run_daily_report, run_weekly_report
from jobctl.jobs.reports.render import format_money

START = date(2026, 3, 2)  # a Monday; 14 days of data
DAY = date(2026, 3, 11)  # a Wednesday in the second week


@pytest.fixture
def seeded(db_settings):
    seed(engine_for(db_settings), days=14, users=150, seed=11, start=START)
    return db_settings


def truth(settings, first: date, last: date) -> dict:
    """Revenue, paid orders, views and the best product of [first, last], summed in Python."""
    start, end = (
        datetime.combine(first, datetime.min.time()),
        datetime.combine(last + timedelta(1), datetime.min.time()),
    )
    with engine_for(settings).connect() as conn:
        paid = conn.execute(
            select(orders.c.id, orders.c.total_cents).where(orders.c.paid_at >= start, orders.c.paid_at < end)
        ).all()
        views = conn.execute(
            select(page_views.c.id).where(page_views.c.occurred_at >= start, page_views.c.occurred_at < end)
        ).all()
        items = conn.execute(
            select(order_items.c.product_id, order_items.c.quantity, order_items.c.unit_price_cents).where(
                order_items.c.order_id.in_([o.id for o in paid])
            )
        ).all()
    by_product: dict[int, int] = {}
    for product_id, quantity, price in items:
        by_product[product_id] = by_product.get(product_id, 0) + quantity * price
    best = max(by_product.items(), key=lambda kv: (kv[1], -kv[0]))[0] if by_product else None
    return {
        "revenue": sum(o.total_cents for o in paid),
        "purchases": len(paid),
        "page_views": len(views),
        "best_product": best,
    }


def test_daily_report_in_three_formats_matches_the_store(seeded, configure):
    settings = configure(JOBCTL_ADMIN_EMAILS="ops@example.com")
    result = generate_report(settings, "daily", DAY, ["pdf", "csv", "json"])
    want = truth(settings, DAY, DAY)
    assert want["purchases"] > 0
    files = {f["format"]: Path(f["path"]) for f in result["files"]}
    assert files["pdf"] == settings.storage_path / "reports" / "daily" / "daily-2026-03-11.pdf"

    data = json.loads(files["json"].read_bytes())
    metrics = {m["name"]: m for m in data["metrics"]}
    assert metrics["revenue"]["value"] == want["revenue"]
    assert metrics["purchases"]["value"] == want["purchases"]
    assert metrics["page_views"]["value"] == want["page_views"]
    assert (
        metrics["revenue"]["previous"] == truth(settings, DAY - timedelta(1), DAY - timedelta(1))["revenue"]
    )
    assert data["top_products"][0]["product_id"] == want["best_product"]

    text = "".join(page.extract_text() for page in PdfReader(files["pdf"]).pages)
    assert "Daily report, Wednesday 11 March 2026" in text
    assert format_money(want["revenue"], "USD") in text
    assert f"{want['page_views']:,}" in text

    rows = list(csv.DictReader(io.StringIO(files["csv"].read_text())))
    [revenue] = [r for r in rows if r["section"] == "summary" and r["metric"] == "revenue"]
    assert revenue["value"] == f"{want['revenue'] / 100:.2f}"

    [email_job] = Queue("email-sending:normal", connection=_redis(), serializer=PayloadSerializer).get_jobs()
    payload = email_job.args[0]
    assert payload["template"] == "admin-report" and payload["to"] == ["ops@example.com"]
    assert sorted(a["filename"] for a in payload["attachments"]) == [
        "daily-2026-03-11.csv",
        "daily-2026-03-11.json",
        "daily-2026-03-11.pdf",
    ]


def _redis():
    from jobctl.core import runtime

    return runtime.connection()


def test_weekly_report_compares_with_the_previous_week_and_draws_charts(seeded):
    result = generate_report(seeded, "weekly", DAY, ["pdf", "json"])
    assert result["period"] == {"start": "2026-03-09", "end": "2026-03-15"}
    this_week, last_week = (
        truth(seeded, date(2026, 3, 9), date(2026, 3, 15)),
        truth(seeded, START, date(2026, 3, 8)),
    )
    data = json.loads(Path(result["files"][1]["path"]).read_bytes())
    revenue = next(m for m in data["metrics"] if m["name"] == "revenue")
    assert (revenue["value"], revenue["previous"]) == (this_week["revenue"], last_week["revenue"])
    assert revenue["delta"] == this_week["revenue"] - last_week["revenue"]
    assert len(data["daily"]) == 7 and sum(d["revenue"] for d in data["daily"]) == this_week["revenue"]
    text = "".join(page.extract_text() for page in PdfReader(result["files"][0]["path"]).pages)
    for title in ("Revenue per day", "Orders per day", "Top products by revenue"):
        assert title in text
    assert result["email_job"] is None  # no JOBCTL_ADMIN_EMAILS


def test_regenerating_replaces_files_and_rows(seeded):
    generate_report(seeded, "daily", DAY, ["csv"], email=False)
    generate_report(seeded, "daily", DAY, ["csv", "json"], email=False)
    with engine_for(seeded).connect() as conn:
        rows = conn.execute(select(reports.c.kind, reports.c.period_start, reports.c.format)).all()
    assert sorted((k, str(p), f) for k, p, f in rows) == [
        ("daily", "2026-03-11", "csv"),
        ("daily", "2026-03-11", "json"),
    ]
    listed = list_reports(seeded)
    assert [r["format"] for r in listed] == ["csv", "json"] and listed[0]["period_start"] == "2026-03-11"


def test_scheduled_jobs_report_the_period_before_they_fired(seeded):
    daily = run_daily_report(
        {"schedule": "daily-reports", "occurrence": "2026-03-12T06:00:00+00:00", "email": False}
    )
    assert daily["period"] == {"start": "2026-03-11", "end": "2026-03-11"}
    weekly = run_weekly_report(
        {
            "schedule": "weekly-reports",
            "occurrence": "2026-03-16T08:00:00+00:00",
            "formats": ["json"],
            "email": False,
        }
    )
    assert weekly["period"] == {"start": "2026-03-09", "end": "2026-03-15"}


@pytest.mark.parametrize(
    ("today", "daily", "weekly"),
    [
        (date(2026, 3, 11), date(2026, 3, 10), date(2026, 3, 8)),  # Wednesday: last week, not this one
        (date(2026, 3, 15), date(2026, 3, 14), date(2026, 3, 8)),  # Sunday: this week is not over
        (date(2026, 3, 16), date(2026, 3, 15), date(2026, 3, 15)),  # Monday: the week that just ended
    ],
)
def test_the_default_period_is_the_last_complete_one(today, daily, weekly):
    assert (default_day("daily", today), default_day("weekly", today)) == (daily, weekly)


def _revenue(settings, start: datetime, end: datetime) -> int:
    with engine_for(settings).connect() as conn:
        paid = conn.execute(
            select(orders.c.total_cents).where(orders.c.paid_at >= start, orders.c.paid_at < end)
        ).all()
    return sum(row.total_cents for row in paid)


def test_a_week_not_over_is_partial_and_compared_like_for_like(seeded):
    now = datetime(2026, 3, 11, 14, 5, tzinfo=UTC)  # Wednesday afternoon of the second week
    result = generate_report(seeded, "weekly", DAY, ["json", "csv", "pdf"], email=False, now=now)
    assert result["title"].endswith("(partial: through 11 March 2026, 14:05 UTC)")
    assert result["partial"] == {"through": "2026-03-11T14:05:00", "previous_through": "2026-03-04T14:05:00"}
    files = {f["format"]: Path(f["path"]) for f in result["files"]}
    data = json.loads(files["json"].read_bytes())
    revenue = next(m for m in data["metrics"] if m["name"] == "revenue")
    assert revenue["value"] == _revenue(seeded, datetime(2026, 3, 9), datetime(2026, 3, 11, 14, 5))
    assert revenue["previous"] == _revenue(seeded, datetime(2026, 3, 2), datetime(2026, 3, 4, 14, 5))
    assert [d["date"] for d in data["daily"]] == ["2026-03-09", "2026-03-10", "2026-03-11"]
    rows = csv.DictReader(io.StringIO(files["csv"].read_text()))
    assert {r["metric"]: r["value"] for r in rows}["partial_through"] == "2026-03-11T14:05:00"
    text = " ".join(page.extract_text() for page in PdfReader(files["pdf"]).pages)
    assert "partial: through 11 March 2026, 14:05 UTC" in " ".join(text.split())


def test_a_complete_week_is_not_partial(seeded):
    now = datetime(2026, 3, 16, 0, 0, tzinfo=UTC)  # the first moment after it
    result = generate_report(seeded, "weekly", DAY, ["json"], email=False, now=now)
    assert result["partial"] is None and "partial" not in result["title"]


def test_a_period_not_started_is_refused(seeded):
    with pytest.raises(UsageError, match="has not started yet"):
        generate_report(seeded, "weekly", date(2026, 3, 18), ["json"], now=datetime(2026, 3, 15, tzinfo=UTC))


def test_bad_requests(seeded):
    with pytest.raises(UsageError, match="unknown report format 'docx'"):
        generate_report(seeded, "daily", DAY, ["docx"])
    with pytest.raises(UsageError, match="unknown report 'monthly'"):
        generate_report(seeded, "monthly", DAY, ["pdf"])
    with pytest.raises(PermanentJobFailure, match="not a date"):
        run_daily_report({"date": "yesterday"})
