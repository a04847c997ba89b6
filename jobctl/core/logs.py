"""Worker and scheduler logs as text for people or JSON lines for log pipelines.

Each finished attempt is also logged as one `jobctl.jobs` record carrying job_id, type, queue,
attempt, duration_ms, outcome and error as fields, so a JSON pipeline can filter and aggregate
without parsing messages. A completed attempt is INFO; an expected failure (a handler's
JobFailure, a timeout, a cancel) is one WARNING line saying what happens next, with its traceback
only at DEBUG (it is kept in the job's result and dead-letter entry anyway); an unexpected
exception is ERROR with its traceback.

Every handler jobctl installs redacts what it writes the way the faces redact what they show
(jobctl.core.redact): provider errors quote addresses, and a log line outlives encryption at rest.
"""

from __future__ import annotations

import copy
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from jobctl.core.redact import redact_text

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOB_FIELDS = (
    "job_id",
    "type",
    "queue",
    "attempt",
    "max_attempts",
    "duration_ms",
    "wait_ms",
    "outcome",
    "retry_in",
    "error",
    "worker",
)
job_log = logging.getLogger("jobctl.jobs")
_plain = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Masks addresses, card numbers, tokens and URL secrets in a record's message, traceback and
    job fields before any formatter sees it. On a handler, so records of every library are covered."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed call: the formatter reports it as logging does
            return True
        if redact_text(message) != message:
            self._redact_message(record, message)
        if record.exc_info and not record.exc_text:
            record.exc_text = _plain.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        for name in JOB_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, redact_text(value))
        return True

    @staticmethod
    def _redact_message(record: logging.LogRecord, message: str) -> None:
        # Arguments masked in place first: some formatters (uvicorn's access log) read record.args
        # themselves. If that is not enough (a secret inside an exception object's text, say), the
        # record carries the finished, redacted message instead.
        if isinstance(record.args, tuple):
            record.args = tuple(redact_text(a) if isinstance(a, str) else a for a in record.args)
            message = record.getMessage()
            if redact_text(message) == message:
                return
        record.msg, record.args = redact_text(message), None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: getattr(record, k) for k in JOB_FIELDS if getattr(record, k, None) is not None})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # set by RedactingFilter: the traceback already redacted
            line["traceback"] = record.exc_text
        return json.dumps(line, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to sys.stderr as it is when a record is emitted, not as it was when logging was set up:
    whoever swapped it since (an in-process CLI runner, a redirect) closes the old one when done."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def redacting_handler(fmt: str = "text", text_format: str = TEXT_FORMAT) -> logging.Handler:
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(text_format))
    handler.addFilter(RedactingFilter())
    return handler


def configure_logging(level: str, fmt: str = "text") -> None:
    """Logging of a long-running process (worker, scheduler, server, demo)."""
    logging.basicConfig(level=level, handlers=[redacting_handler(fmt)], force=True)


def configure_cli_logging() -> None:
    """A one-shot command's warnings, as Python would print them (message only) but redacted;
    left alone when something (a test runner, an embedding program) already set logging up."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, handlers=[redacting_handler(text_format="%(message)s")])


def serve_log_config(uvicorn_config: dict[str, Any], level: str) -> dict[str, Any]:
    """For `jobctl serve`: a copy of uvicorn's logging config (applied by uvicorn.run) whose handlers
    redact too (an error or access line can quote a URL's query or an address), with jobctl's own
    records sent to uvicorn's default handler."""
    config = copy.deepcopy(uvicorn_config)
    config.setdefault("filters", {})["redact"] = {"()": RedactingFilter}
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", []).append("redact")
    config.setdefault("loggers", {})["jobctl"] = {"handlers": ["default"], "level": level, "propagate": False}
    return config


def log_attempt(fields: dict, *, expected: bool = True, exc_info: BaseException | None = None) -> None:
    """One record per finished attempt (its fields are JOB_FIELDS); see the module doc for levels."""
    outcome, error = fields["outcome"], fields.get("error")
    extra = {k: v for k, v in fields.items() if k in JOB_FIELDS and v is not None}
    head = f"job {fields['job_id']} ({fields['type']}) on {fields['queue']}"
    if error is None:
        job_log.info(
            "%s: %s after %s ms, attempt %s",
            head,
            outcome,
            fields.get("duration_ms"),
            fields["attempt"],
            extra=extra,
        )
        return
    if outcome == "retrying":
        retry_in = fields.get("retry_in")
        then = f"retry in {retry_in:g} s" if retry_in else "retry now"
    elif outcome == "dead-lettered" and (fields.get("max_attempts") or 0) > fields["attempt"]:
        then = "dead-lettered (retrying cannot help)"
    else:
        then = outcome
    of = f"/{fields['max_attempts']}" if fields.get("max_attempts") else ""
    args = (head, fields["attempt"], of, fields.get("duration_ms"), error, then)
    message = "%s: attempt %s%s failed after %s ms: %s; %s"
    if expected:
        job_log.warning(message, *args, extra=extra)
        if exc_info is not None and job_log.isEnabledFor(logging.DEBUG):
            job_log.debug("%s: attempt %s traceback", head, fields["attempt"], exc_info=exc_info, extra=extra)
    else:
        job_log.error(message, *args, exc_info=exc_info, extra=extra)
