"""A Redis outage as one worker process lives through it: unreachable, or full (at its maxmemory).

The outage is logged when it starts and when it ends, not per retry (a supervised worker may wait
hours); the retries back off to RECONNECT_MAX_WAIT. A burst worker is a one-off run (CI, cron), so
it gives up after JOBCTL_REDIS_WAIT: RedisUnavailable (exit 3), or ServerFull (exit 1) when the server
answered but refused to store more.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from jobctl.core.connection import HINT_UNREACHABLE
from jobctl.errors import JobctlError, RedisUnavailable, ServerFull

log = logging.getLogger("jobctl.worker")

FIRST_WAIT = 0.5
RECONNECT_MAX_WAIT = 30.0


def _describe(exc: BaseException) -> str:
    if isinstance(exc, redis.OutOfMemoryError):
        return "Redis is full (at its maxmemory; it refuses writes)"
    if isinstance(exc, JobctlError):
        return exc.message.rstrip(".")
    return f"lost Redis ({str(exc).rstrip('.')})"


class Outage:
    """Shared by a worker process's reconnect loop and its worker: `give_up_after` seconds (a burst
    worker's JOBCTL_REDIS_WAIT), or None to wait as long as it takes."""

    def __init__(self, give_up_after: float | None = None):
        self.give_up_after = give_up_after
        self.since: float | None = None
        self._wait = FIRST_WAIT
        self._lock = threading.Lock()

    def wait(self, exc: BaseException) -> None:
        """A call failed with `exc`: sleep before the next try, or raise once a burst worker waited enough."""
        time.sleep(self.failed(exc))

    def failed(self, exc: BaseException) -> float:
        """Note the failure; the seconds to wait before the next try. Raises RedisUnavailable or ServerFull
        when `give_up_after` has passed since the outage started."""
        now = time.monotonic()
        with self._lock:
            if self.since is None:
                self.since, self._wait = now, FIRST_WAIT
                limit = "" if self.give_up_after is None else f", for up to {self.give_up_after:g} s"
                log.error("%s; waiting for it%s", _describe(exc), limit)
            else:
                log.debug("still waiting for Redis: %s", _describe(exc))
            waited = now - self.since
            if self.give_up_after is not None and waited >= self.give_up_after:
                raise self._give_up(exc, waited)
            wait, self._wait = self._wait, min(self._wait * 2, RECONNECT_MAX_WAIT)
            if self.give_up_after is not None:
                wait = min(wait, self.give_up_after - waited)  # the last try falls on the limit
            return wait

    def ended(self) -> None:
        """Redis answered a write: log the end of an outage, if there was one."""
        if self.since is None:
            return
        with self._lock:
            if self.since is not None:
                log.info("Redis is back after %.0f s", time.monotonic() - self.since)
                self.since = None

    def _give_up(self, exc: BaseException, waited: float) -> JobctlError:
        setting = f"JOBCTL_REDIS_WAIT ({self.give_up_after:g} s)"
        if isinstance(exc, redis.OutOfMemoryError):
            return ServerFull(
                f"burst worker gave up after {waited:.0f} s: Redis is full (at its maxmemory)",
                f"delete jobs (jobctl clear, jobctl dlq purge) or raise its maxmemory; it waits {setting}",
            )
        advice = "start the server or fix REDIS_URL"
        if isinstance(exc, RedisUnavailable) and exc.hint and exc.hint != HINT_UNREACHABLE:
            advice = exc.hint  # what the connection told apart: a TLS certificate, a plain port, ...
        return RedisUnavailable(
            f"burst worker gave up after {waited:.0f} s: {_describe(exc)}",
            f"{advice}; a burst worker waits {setting} for it",
        )
