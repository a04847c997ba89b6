"""Log records: redacted on every handler jobctl installs, written to sys.stderr as it is when they are
emitted; an attempt's level says whether it was expected."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from jobctl.config import SECRET_MASK
from jobctl.core.logs import (
    JsonFormatter,
    RedactingFilter,
    configure_cli_logging,
    configure_logging,
    log_attempt,
    serve_log_config,
)

FIELDS = {"job_id": "j1", "type": "email", "queue": "email-sending", "duration_ms": 5.0, "worker": "w"}


def _record(msg, args=(), exc_info=None, **extra) -> logging.LogRecord:
    record = logging.LogRecord("jobctl.test", logging.WARNING, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    return record


def _raised(message: str) -> tuple:
    try:
        raise RuntimeError(message)
    except RuntimeError as exc:
        return (type(exc), exc, exc.__traceback__)


def test_message_traceback_and_job_fields_are_redacted():
    record = _record(
        "send to %s failed: %s",
        ("ann.lee@example.com", ValueError("via https://u:pw-1@relay.example/?token=t0k")),
        exc_info=_raised("550 <bob@example.org>: mailbox unavailable"),
        error="PermanentJobFailure: 550 <bob@example.org>",
    )
    assert RedactingFilter().filter(record)
    line = JsonFormatter().format(record)
    for secret in ("ann.lee", "bob@", "pw-1", "t0k"):
        assert secret not in line
    doc = json.loads(line)
    assert doc["message"] == (
        f"send to a***@example.com failed: via https://u:{SECRET_MASK}@relay.example/?token={SECRET_MASK}"
    )
    assert "RuntimeError: 550 <b***@example.org>" in doc["traceback"] and doc["error"].endswith(
        "<b***@example.org>"
    )


def test_arguments_stay_arguments_for_formatters_that_read_them():
    # uvicorn's access formatter unpacks record.args: they are masked in place, not flattened
    from uvicorn.logging import AccessFormatter

    record = _record(
        '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5", "GET", "/v1/jobs?access_token=jct_abcdef123", "1.1", 401)
    )
    assert RedactingFilter().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(
        record
    )
    assert line == f'127.0.0.1:5 - "GET /v1/jobs?access_token={SECRET_MASK} HTTP/1.1" 401 Unauthorized'


def test_clean_records_are_left_as_they_are():
    record = _record("worker %s started on %d queues", ("w1", 3))
    assert RedactingFilter().filter(record)
    assert (record.msg, record.args) == ("worker %s started on %d queues", ("w1", 3))


def test_serve_logs_through_uvicorns_handlers_with_the_filter():
    from uvicorn.config import LOGGING_CONFIG

    config = serve_log_config(LOGGING_CONFIG, "INFO")
    assert all("redact" in handler["filters"] for handler in config["handlers"].values())
    assert config["loggers"]["jobctl"]["handlers"] == ["default"]
    assert (
        "filters" not in LOGGING_CONFIG["handlers"]["default"] and "jobctl" not in LOGGING_CONFIG["loggers"]
    )


def test_cli_warnings_are_redacted(capsys):
    # the root logger's own handler list is emptied and refilled in place: pytest removes its
    # capture handlers from that list when the test ends
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    for handler in saved:
        root.removeHandler(handler)
    try:
        configure_cli_logging()
        logging.getLogger("jobctl.test").warning("could not notify %s", "ann@example.com")
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
    assert capsys.readouterr().err == "could not notify a***@example.com\n"


@pytest.mark.parametrize(
    ("fields", "expected", "level", "text"),
    [
        ({"outcome": "completed", "attempt": 1}, True, "INFO", "completed after 5.0 ms, attempt 1"),
        (
            {"outcome": "retrying", "attempt": 1, "max_attempts": 3, "retry_in": 2.0, "error": "T: busy"},
            True,
            "WARNING",
            "attempt 1/3 failed after 5.0 ms: T: busy; retry in 2 s",
        ),
        (
            {"outcome": "dead-lettered", "attempt": 1, "max_attempts": 3, "error": "P: declined"},
            True,
            "WARNING",
            "attempt 1/3 failed after 5.0 ms: P: declined; dead-lettered (retrying cannot help)",
        ),
        (
            {"outcome": "dead-lettered", "attempt": 3, "max_attempts": 3, "error": "RuntimeError: bug"},
            False,
            "ERROR",
            "attempt 3/3 failed after 5.0 ms: RuntimeError: bug; dead-lettered",
        ),
    ],
)
def test_attempt_lines(fields, expected, level, text, caplog):
    caplog.set_level(logging.INFO, "jobctl.jobs")
    exc_info = _raised("bug")[1]
    log_attempt({**FIELDS, **fields}, expected=expected, exc_info=exc_info if "error" in fields else None)
    [record] = caplog.records
    assert record.levelname == level and record.getMessage() == f"job j1 (email) on email-sending: {text}"
    assert (record.exc_info is not None) == (level == "ERROR")  # a traceback only for the unexpected


def test_an_expected_failures_traceback_is_logged_at_debug(caplog):
    caplog.set_level(logging.DEBUG, "jobctl.jobs")
    fields = {**FIELDS, "outcome": "retrying", "attempt": 1, "max_attempts": 2, "error": "T: busy"}
    log_attempt(fields, expected=True, exc_info=_raised("busy")[1])
    warning, debug = caplog.records
    assert warning.levelname == "WARNING" and warning.exc_info is None
    assert debug.levelname == "DEBUG" and debug.exc_info is not None


def test_records_follow_sys_stderr_after_it_is_swapped(monkeypatch):
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("INFO")
    try:
        logging.getLogger("jobctl.test").warning("one")
        first.close()  # as an in-process CLI runner closes its stream after each command
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("jobctl.test").warning("two")
    finally:
        logging.basicConfig(handlers=[logging.NullHandler()], force=True)
    assert second.getvalue().endswith("WARNING jobctl.test: two\n")
    assert "Logging error" not in second.getvalue()
