"""Worker and scheduler logs as text for people or JSON lines for log pipelines.

Each finished attempt is also logged as one `jobctl.jobs` record carrying job_id, type, queue,
attempt, duration_ms, outcome and error as fields, so a JSON pipeline can filter and aggregate
without parsing messages.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOB_FIELDS = ("job_id", "type", "queue", "attempt", "duration_ms", "wait_ms", "outcome", "error", "worker")
job_log = logging.getLogger("jobctl.jobs")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: getattr(record, k) for k in JOB_FIELDS if getattr(record, k, None) is not None})
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
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


def configure_logging(level: str, fmt: str = "text") -> None:
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def log_attempt(fields: dict) -> None:
    """One record per finished attempt (its fields are JOB_FIELDS)."""
    error = f": {fields['error']}" if fields.get("error") else ""
    job_log.info(
        "job %s (%s) on %s: %s after %s ms, attempt %s%s",
        fields["job_id"],
        fields["type"],
        fields["queue"],
        fields["outcome"],
        fields.get("duration_ms"),
        fields.get("attempt"),
        error,
        extra={k: v for k, v in fields.items() if k in JOB_FIELDS},
    )
