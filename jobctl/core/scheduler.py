"""`jobctl scheduler start`: runs the recurring schedules. Several may run, on several hosts;
exactly one is active.

The active one holds a lease in Redis (SET NX PX) and renews it every tick; a standby tries to take
it every tick, so it takes over at most one lease period after the active one dies (15 s by default,
JOBCTL_SCHEDULER_LEASE). Each occurrence is also guarded per schedule in `schedules.tick`, so even two
briefly active schedulers never enqueue it twice.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import redis

from jobctl.config import Settings
from jobctl.core import keys
from jobctl.core.connection import connect
from jobctl.errors import RedisUnavailable

log = logging.getLogger("jobctl.scheduler")

LEADER_KEY = f"{keys.JOBCTL}:scheduler:leader"
RECONNECT_MAX_WAIT = 30.0

# renew only if we still hold it; take it only if nobody does
_ACQUIRE_OR_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def scheduler_status(connection: redis.Redis) -> dict[str, Any]:
    holder = connection.get(LEADER_KEY)
    ttl = connection.pttl(LEADER_KEY)
    return {"active": holder.decode() if holder else None, "lease_ms_left": ttl if ttl > 0 else None}


@dataclass
class Scheduler:
    settings: Settings
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    tick_interval: float = 1.0
    alert_interval: float = 15.0
    leading: bool = False
    _stop: bool = False
    _alerts_at: float = 0.0

    def request_stop(self, signum=None, frame=None) -> None:
        self._stop = True

    def _lease_ms(self) -> int:
        return int(self.settings.scheduler_lease * 1000)

    def step(self, connection: redis.Redis, now: datetime | None = None) -> list[dict]:
        """One tick: keep or take the lease; if active, fire what is due."""
        from jobctl.core import schedules

        state = connection.eval(_ACQUIRE_OR_RENEW, 1, LEADER_KEY, self.name, self._lease_ms())
        was_leading, self.leading = self.leading, bool(state)
        if self.leading and not was_leading:
            log.info("scheduler %s is now active", self.name)
            schedules.seed_defaults(connection, self.settings)
        elif was_leading and not self.leading:
            log.warning("scheduler %s lost the lease; standing by", self.name)
        if not self.leading:
            return []
        fired = schedules.tick(connection, self.settings, now or datetime.now(timezone.utc))
        if time.monotonic() - self._alerts_at >= self.alert_interval:
            self._alerts_at = time.monotonic()
            self._evaluate_alerts(connection)
        return fired

    def _evaluate_alerts(self, connection: redis.Redis) -> None:
        from jobctl.core import alert_rules

        try:
            alert_rules.evaluate(connection, self.settings)
        except (redis.ConnectionError, redis.TimeoutError):
            raise
        except Exception:  # a broken rule must not stop the schedules
            log.exception("alert rules could not be evaluated")

    def release(self, connection: redis.Redis) -> None:
        if self.leading:
            connection.eval(_RELEASE, 1, LEADER_KEY, self.name)
            self.leading = False

    def run(self) -> None:
        """Tick until SIGTERM/SIGINT; survives Redis outages by reconnecting with backoff."""
        previous = {s: signal.signal(s, self.request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
        log.info("scheduler %s started (lease %s s)", self.name, self.settings.scheduler_lease)
        wait = 1.0
        connection = None
        try:
            while not self._stop:
                try:
                    connection = connection or connect(self.settings)
                    for fired in self.step(connection):
                        log.info("schedule %s: %s", fired.get("name"), fired.get("action", "fired"))
                    wait = 1.0
                except (RedisUnavailable, redis.ConnectionError, redis.TimeoutError) as exc:
                    self.leading = False
                    connection = None
                    log.error("Redis unavailable (%s); retrying in %.0f s", getattr(exc, "message", exc), wait)
                    self._sleep(wait)
                    wait = min(wait * 2, RECONNECT_MAX_WAIT)
                    continue
                self._sleep(self.tick_interval)
            if connection is not None:
                self.release(connection)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("scheduler %s stopped", self.name)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop and time.monotonic() < deadline:
            time.sleep(min(0.2, deadline - time.monotonic()))
