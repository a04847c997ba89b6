"""Roll-up periods in UTC: boundaries, overlap, the period a schedule rolls up."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from jobctl.errors import UsageError
from jobctl.jobs.analytics.job import as_range, check_metrics, prepare_analytics_payload
from jobctl.jobs.analytics.periods import last_complete, periods


def test_each_type_cuts_a_range_into_whole_periods():
    start, end = datetime(2024, 1, 31, 22, 30), datetime(2024, 2, 1, 1, 0)
    assert list(periods("hourly", start, end)) == [
        (datetime(2024, 1, 31, 22), datetime(2024, 1, 31, 23)),
        (datetime(2024, 1, 31, 23), datetime(2024, 2, 1)),
        (datetime(2024, 2, 1), datetime(2024, 2, 1, 1)),
    ]
    assert [s.day for s, _ in periods("daily", start, end)] == [31, 1]
    # 2024-01-31 is a Wednesday: its ISO week starts Monday the 29th
    assert list(periods("weekly", start, end)) == [(datetime(2024, 1, 29), datetime(2024, 2, 5))]
    assert list(periods("monthly", datetime(2023, 12, 15), datetime(2024, 2, 1))) == [
        (datetime(2023, 12, 1), datetime(2024, 1, 1)),
        (datetime(2024, 1, 1), datetime(2024, 2, 1)),
    ]


def test_a_schedule_rolls_up_the_last_complete_period():
    fired = datetime(2024, 3, 1, 0, 15)  # a Friday
    assert last_complete("hourly", fired) == (datetime(2024, 2, 29, 23), datetime(2024, 3, 1))
    assert last_complete("daily", fired) == (datetime(2024, 2, 29), datetime(2024, 3, 1))
    assert last_complete("weekly", fired) == (datetime(2024, 2, 19), datetime(2024, 2, 26))
    assert last_complete("monthly", fired) == (datetime(2024, 2, 1), datetime(2024, 3, 1))
    assert last_complete("monthly", datetime(2024, 1, 1, 1)) == (datetime(2023, 12, 1), datetime(2024, 1, 1))


def test_dates_are_inclusive_days_and_aware_datetimes_become_utc():
    assert as_range((date(2024, 1, 1), date(2024, 1, 31))) == (datetime(2024, 1, 1), datetime(2024, 2, 1))
    assert as_range(("2024-01-01", "2024-01-01")) == (datetime(2024, 1, 1), datetime(2024, 1, 2))
    aware = datetime.fromisoformat("2024-01-01T03:00:00+03:00")
    assert as_range((aware, datetime(2024, 1, 2)))[0] == datetime(2024, 1, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "yearly"}, "unknown analytics type 'yearly'"),
        ({"date_range": (date(2024, 2, 1), date(2024, 1, 1))}, "ends (2024-01-01) before it starts"),
        ({"date_range": ("2024-13-01", "2024-12-01")}, "date_range"),
        ({"date_range": "2024"}, "must be a (start, end) pair"),
        ({"date_range": (1, 2)}, "two dates or two datetimes"),
        ({"metrics": ["revenue", "profit"]}, "unknown metric 'profit'"),
        ({"metrics": []}, "unknown metric (none given)"),
        (
            {"kind": "hourly", "date_range": (date(2000, 1, 1), date(2030, 1, 1))},
            "more than 100,000 hourly periods",
        ),
    ],
)
def test_bad_requests_are_usage_errors(kwargs, message):
    args = {"kind": "daily", "date_range": (date(2024, 1, 1), date(2024, 1, 31)), "metrics": None, **kwargs}
    with pytest.raises(UsageError) as info:
        prepare_analytics_payload(args["kind"], args["date_range"], args["metrics"])
    assert message in info.value.message


def test_metrics_default_to_all_and_lose_duplicates():
    assert len(check_metrics(None)) == 6
    assert check_metrics("revenue, page_views,revenue") == ["revenue", "page_views"]
