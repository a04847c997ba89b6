"""Fixtures of the dashboard tests."""

from __future__ import annotations

import pytest

from jobctl.tui import data, widgets
from tests.tui.dash_helpers import SERIES, TRACEBACK, Q


@pytest.fixture
def frozen(monkeypatch):
    """What changes from run to run is masked: times, sparkline data, traceback paths."""
    monkeypatch.setattr(widgets, "fmt_time", lambda iso: "11-29 09:00:00" if iso else "-")
    monkeypatch.setattr(
        data,
        "series",
        lambda connection, queue: SERIES if queue == Q else {"completed": [0] * 12, "failed": [0] * 12},
    )
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
