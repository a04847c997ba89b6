"""The Python API's bulk functions report on_progress(done, total, stage): validating, then
enqueueing, each from 0 to the number of jobs."""

from __future__ import annotations

from jobctl import api
from tests.core.test_progress import Recorder, assert_counts_up


def test_bulk_email_reports_both_phases(settings, redis_client):
    calls = Recorder()
    rows = [{"email": f"u{n}@example.com", "name": f"U{n}"} for n in range(450)]
    ids = api.add_bulk_email_jobs(
        rows, "welcome", {"login_url": "https://shop.example/login"}, on_progress=calls
    )
    assert len(ids) == 450
    assert_counts_up(calls, "validating", 450)
    assert_counts_up(calls, "enqueueing", 450)
    assert calls.calls.index((450, 450, "validating")) < calls.calls.index((0, 450, "enqueueing"))


def test_analytics_backfill_reports_both_phases(settings, redis_client):
    calls = Recorder()
    ids = api.schedule_custom_analytics("daily", "2024-01-01", "2024-03-31", on_progress=calls)
    assert len(ids) == 91
    assert_counts_up(calls, "validating", 91)
    assert_counts_up(calls, "enqueueing", 91)
