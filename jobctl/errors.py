"""Errors every face of jobctl shares, and the exit codes they map to."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    UNREACHABLE = 3
    NOT_FOUND = 4
    INTERRUPTED = 130


class JobctlError(Exception):
    """A failure with a one-line message and a hint for the person who hit it."""

    code: ExitCode = ExitCode.FAILED
    kind: str = "failed"

    def __init__(self, message: str, hint: str | None = None, code: ExitCode | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def to_dict(self) -> dict:
        return {"error": {"code": self.kind, "message": self.message, "hint": self.hint}}


class UsageError(JobctlError):
    """Bad input: wrong flag value, malformed payload, unknown template."""

    code = ExitCode.USAGE
    kind = "usage"


class InvalidPayload(UsageError):
    """A job's data that its type's contract refuses: exit 2 on the command line, 422 over HTTP."""

    kind = "invalid_payload"


class ConfigError(UsageError):
    kind = "config"


class TooMany(UsageError):
    """More jobs in one call than JOBCTL_MAX_BATCH allows: refused before any is queued (HTTP 413)."""

    kind = "too_many"


class RedisUnavailable(JobctlError):
    code = ExitCode.UNREACHABLE
    kind = "redis_unreachable"


class ServerFull(JobctlError):
    """Redis refused a write because it reached its maxmemory (exit 1, HTTP 503); nothing half-written."""

    kind = "server_full"


class NotFound(JobctlError):
    code = ExitCode.NOT_FOUND
    kind = "not_found"


class JobFailure(Exception):
    """Raised by a handler: the attempt failed. `retryable` tells the retry machinery what to do."""

    retryable = True

    def __init__(self, message: str, *, retryable: bool | None = None):
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class PermanentJobFailure(JobFailure):
    """Retrying cannot help (bad payload, SMTP 5xx, rejected address): go straight to dead-letter."""

    retryable = False


class TransientJobFailure(JobFailure):
    """Worth another attempt later (connection refused, timeout, 4xx).

    `retry_after` (seconds) is the earliest the next attempt may start, e.g. an HTTP Retry-After:
    the retry waits for the larger of it and the queue's backoff delay."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after
