"""jobctl enqueue analytics|report, analytics schedule-custom|show, report generate|list."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from jobctl.core.browse import job_detail
from jobctl.core.stats import queue_stats
from jobctl.data import engine_for
from jobctl.data.seed import seed


def waiting(redis_client, settings, queue: str) -> int:
    [row] = queue_stats(redis_client, settings, queue)["queues"]
    return row["totals"]["waiting"]


def test_schedule_custom_enqueues_one_job_per_period(cli, settings, redis_client):
    out = cli.json(
        "analytics",
        "schedule-custom",
        "--type",
        "daily",
        "--from",
        "2024-01-01",
        "--to",
        "2024-01-31",
        "--metrics",
        "page_views,conversion_rate",
    )
    assert out["count"] == 31 and waiting(redis_client, settings, "analytics-aggregation") == 31
    first = job_detail(redis_client, settings, out["job_ids"][0])["payload"]
    assert first == {
        "type": "daily",
        "start": "2024-01-01T00:00:00",
        "end": "2024-01-02T00:00:00",
        "metrics": ["page_views", "conversion_rate"],
    }
    weeks = cli.json(
        "analytics", "schedule-custom", "--type", "weekly", "--from", "2024-01-01", "--to", "2024-01-31"
    )
    assert weeks["count"] == 5  # ISO weeks starting Jan 1, 8, 15, 22, 29


def test_enqueue_analytics_is_one_job_for_the_range(cli, settings, redis_client):
    job_id = cli.json("enqueue", "analytics", "--type", "hourly", "--from", "2024-01-01")["job_id"]
    detail = job_detail(redis_client, settings, job_id)
    assert (detail["queue"], detail["priority"]) == ("analytics-aggregation", "low")
    assert detail["payload"]["end"] == "2024-01-02T00:00:00"


def test_enqueue_report_goes_to_its_queue(cli, settings, redis_client):
    job_id = cli.json("enqueue", "report", "weekly", "--date", "2026-03-11", "--format", "pdf", "--no-email")[
        "job_id"
    ]
    detail = job_detail(redis_client, settings, job_id)
    assert (detail["type"], detail["queue"]) == ("weekly-report", "weekly-reports")
    assert detail["payload"] == {"formats": ["pdf"], "email": False, "date": "2026-03-11"}


@pytest.mark.parametrize(
    "args",
    [
        ["analytics", "schedule-custom", "--type", "yearly", "--from", "2024-01-01"],
        ["analytics", "schedule-custom", "--type", "daily", "--from", "2024-02-30"],
        ["analytics", "schedule-custom", "--type", "daily", "--from", "2024-02-01", "--to", "2024-01-01"],
        ["analytics", "schedule-custom", "--type", "daily", "--from", "2024-01-01", "--metrics", "profit"],
        ["enqueue", "analytics", "--type", "hourly", "--from", "1990-01-01", "--to", "2030-01-01"],
        ["enqueue", "report", "monthly"],
        ["enqueue", "report", "daily", "--format", "docx"],
        ["report", "generate", "daily", "--date", "tomorrow"],
        ["analytics", "show", "--type", "daily", "--from", "2024-01-01", "--metrics", "nope"],
    ],
)
def test_bad_input_exits_2_and_queues_nothing(cli, settings, redis_client, args):
    result = cli(*args, code=2)
    assert result.stderr.startswith("jobctl: error: ")
    for queue in ("analytics-aggregation", "daily-reports", "weekly-reports"):
        assert waiting(redis_client, settings, queue) == 0


def test_report_generate_weekly_defaults_to_the_last_complete_week(cli):
    out = cli.json("report", "generate", "weekly", "--format", "json", "--no-email")
    end = date.fromisoformat(out["period"]["end"])
    assert out["partial"] is None and end.weekday() == 6  # a Sunday ...
    assert 0 < (datetime.now(UTC).date() - end).days <= 7  # ... the last one before today


def test_report_generate_and_list_and_analytics_show(cli, settings):
    seed(engine_for(settings), days=3, users=300, seed=3, start=date(2026, 3, 2))
    out = cli.json("report", "generate", "daily", "--date", "2026-03-03", "--format", "json,csv")
    assert [f["format"] for f in out["files"]] == ["json", "csv"] and out["email_job"] is None
    assert (
        "daily-2026-03-03.csv"
        in cli("report", "generate", "daily", "--date", "2026-03-03", "-f", "csv").stdout
    )
    listed = cli.json("report", "list")["reports"]
    assert {(r["kind"], r["period_start"], r["format"]) for r in listed} == {
        ("daily", "2026-03-03", "json"),
        ("daily", "2026-03-03", "csv"),
    }

    from jobctl.jobs.analytics.job import run_analytics_job

    run_analytics_job(
        {
            "type": "daily",
            "start": "2026-03-02T00:00:00",
            "end": "2026-03-05T00:00:00",
            "metrics": ["page_views", "revenue", "conversion_rate"],
        }
    )
    shown = cli.json(
        "analytics",
        "show",
        "--type",
        "daily",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-04",
        "--metrics",
        "page_views,revenue",
    )
    assert [r["period_start"] for r in shown["rows"]] == [
        "2026-03-02T00:00:00",
        "2026-03-03T00:00:00",
        "2026-03-04T00:00:00",
    ]
    assert out["metrics"]["revenue"] > 0
    assert Decimal(shown["rows"][1]["revenue"]) == out["metrics"]["revenue"]
    table = cli("analytics", "show", "--type", "daily", "--from", "2026-03-02", "--to", "2026-03-04").stdout
    assert "2026-03-03" in table and "%" in table
    assert "no daily roll-ups" in cli("analytics", "show", "--type", "daily", "--from", "2020-01-01").stdout
