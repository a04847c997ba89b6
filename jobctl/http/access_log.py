"""uvicorn's access log without secrets: a request line may carry one in its query (?access_token=...).

The API never accepts a token in the URL (401), but uvicorn logs the request line before anyone
judges it, so a token pasted into a URL would land in the log in clear."""

from __future__ import annotations

import copy
import logging
from typing import Any
from urllib.parse import unquote_plus

import uvicorn.config

from jobctl.core.redact import MASK, redact_text


def masked_path(path: str) -> str:
    """The path with secret query values (and addresses, card numbers, tokens) masked. A secret
    parameter whose name is %-escaped (access%5Ftoken=) is still one: then the whole query goes."""
    masked = redact_text(path)
    decoded = unquote_plus(masked)
    if redact_text(decoded) != decoded:
        return f"{masked.partition('?')[0]}?{MASK}"
    return masked


class RedactedAccessLog(logging.Filter):
    """Masks every string argument of an access log record (uvicorn passes the client address, method,
    path with query and HTTP version as arguments, and its formatter reads them from there)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(masked_path(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's default logging, with RedactedAccessLog on its access logger."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["redacted"] = {"()": RedactedAccessLog}
    config["loggers"]["uvicorn.access"]["filters"] = ["redacted"]
    return config
