"""Fixtures of the dashboard tests."""

from __future__ import annotations

import pytest

from jobctl.core.metrics import summarize
from jobctl.tui import data, widgets
from tests.tui.dash_helpers import SERIES, TRACEBACK, WINDOW, Q


@pytest.fixture
def frozen(monkeypatch):
    """What changes from run to run is masked: times, ages, sparkline data and metrics (payment-retry
    has fixed ones, the others none), traceback paths."""
    monkeypatch.setattr(widgets, "fmt_time", lambda iso: "11-29 09:00:00" if iso else "-")
    monkeypatch.setattr(
        data,
        "series",
        lambda connection, queue: SERIES if queue == Q else {"completed": [0] * 12, "failed": [0] * 12},
    )
    window, oldest, workers = data.window, data.oldest, data.workers
    monkeypatch.setattr(
        data, "window", lambda connection, queues: {**window(connection, queues), Q: summarize(WINDOW, 900)}
    )
    # a waiting job's age: 12m34s, whenever the test runs
    monkeypatch.setattr(
        data,
        "oldest",
        lambda connection, settings: {
            q: None if age is None else 754.0 for q, age in oldest(connection, settings).items()
        },
    )

    def steady_workers(connection, settings):
        rows = workers(connection, settings)
        for row in rows:
            row["heartbeat_age_seconds"] = 2.0
            row["current_job_seconds"] = 3.0 if row["current_job"] else None
        return rows

    monkeypatch.setattr(data, "workers", steady_workers)
    read_jobs, read_dlq = data.read_jobs, data.read_dlq

    def jobs(*args):
        result = read_jobs(*args)
        if result["detail"] and result["detail"].get("error"):
            result["detail"]["error"] = TRACEBACK
        return result

    def dead(*args):
        result = read_dlq(*args)
        if result["entry"]:
            result["entry"]["traceback"] = TRACEBACK
        return result

    monkeypatch.setattr(data, "read_jobs", jobs)
    monkeypatch.setattr(data, "read_dlq", dead)
