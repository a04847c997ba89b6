"""The access log masks secrets in request lines (the real server's log: tests/http/test_serve.py)."""

from __future__ import annotations

import logging

import pytest
from uvicorn.logging import AccessFormatter

from jobctl.http.access_log import RedactedAccessLog, masked_path


@pytest.mark.parametrize(
    "path", ["/api/jobs/stats", "/api/jobs/stats?queue=email-sending&window=1h", "/api/jobs/a%20b?x=1"]
)
def test_a_path_without_secrets_is_logged_as_it_is(path):
    assert masked_path(path) == path


@pytest.mark.parametrize(
    "path, kept",
    [
        ("/api/jobs/stats?access_token=SECRET", ["/api/jobs/stats?access_token="]),
        ("/api/jobs/stats?queue=a&token=SE%26CRET&window=1h", ["?queue=a&token=", "&window=1h"]),
        ("/x?api_key=SECRET&signature=SECRET", ["/x?api_key=", "&signature="]),
        ("/x?PASSWORD=SECRET", ["/x?PASSWORD="]),
        ("/x?access%5Ftoken=SECRET&queue=a", ["/x?"]),  # the name %-escaped: the whole query goes
        ("/x?auth%3DSECRET", ["/x?"]),
    ],
)
def test_secret_query_values_are_masked(path, kept):
    shown = masked_path(path)
    assert "SECRET" not in shown and "CRET" not in shown, shown
    assert all(part in shown for part in kept), shown


def test_the_filter_masks_the_line_uvicorn_formats():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:50000", "GET", "/api/jobs/stats?access_token=SECRET", "1.1", 401),
        None,
    )
    assert RedactedAccessLog().filter(record) is True
    line = AccessFormatter("%(message)s", use_colors=False).format(record)
    assert line.startswith('127.0.0.1:50000 - "GET /api/jobs/stats?access_token=') and "SECRET" not in line
    assert line.endswith(' HTTP/1.1" 401')
