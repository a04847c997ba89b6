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
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from jobctl.config import Settings
from jobctl.core import audit, keyspace, leases, schedules
from jobctl.core.alert_evaluator import AlertEvaluator
from jobctl.core.connection import connect
from jobctl.errors import RedisUnavailable

log = logging.getLogger("jobctl.scheduler")

LEADER_KEY = f"{keyspace.JOBCTL}:scheduler:leader"
RECONNECT_MAX_WAIT = 30.0


def scheduler_status(connection: redis.Redis) -> dict[str, Any]:
    lease = leases.lease_status(connection, LEADER_KEY)
    return {"active": lease["holder"], "lease_ms_left": lease["ms_left"]}


@dataclass
class Scheduler:
    settings: Settings
    name: str = ""  # empty: HOST:PID:RANDOM, HOST from JOBCTL_HOSTNAME or the machine's name
    tick_interval: float = 1.0
    alert_interval: float = 15.0
    leading: bool = False
    _stop: bool = False
    _alerts: AlertEvaluator | None = None

    def __post_init__(self) -> None:
        self.name = self.name or f"{self.settings.host_name}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def alerts(self) -> AlertEvaluator:
        """This scheduler's candidacy for evaluating the alert rules (its own election, so a
        standby scheduler may be the evaluator while another one fires the schedules)."""
        if self._alerts is None:
            self._alerts = AlertEvaluator(self.settings, "scheduler", self.alert_interval, name=self.name)
        return self._alerts

    def request_stop(self, signum=None, frame=None) -> None:
        self._stop = True

    def _lease_ms(self) -> int:
        return int(self.settings.scheduler_lease * 1000)

    def step(self, connection: redis.Redis, now: datetime | None = None) -> list[dict]:
        """One tick: keep or take the lease; if active, fire what is due; evaluate the alert rules
        when this process is the alert evaluator. What it queues (an alert email) is audited as
        this scheduler, face scheduler; each schedule's own job as that schedule (schedules.tick)."""
        with audit.acting_as(audit.Actor(f"scheduler:{self.name}", "scheduler")):
            return self._step(connection, now)

    def _step(self, connection: redis.Redis, now: datetime | None) -> list[dict]:
        self.alerts().step_safely(connection)
        state = leases.acquire_or_renew(connection, LEADER_KEY, self.name, self._lease_ms())
        was_leading, self.leading = self.leading, bool(state)
        if self.leading and not was_leading:
            log.info("scheduler %s is now active", self.name)
            schedules.seed_defaults(connection, self.settings)
        elif was_leading and not self.leading:
            log.warning("scheduler %s lost the lease; standing by", self.name)
        if not self.leading:
            return []
        return schedules.tick(connection, self.settings, now or datetime.now(UTC))

    def release(self, connection: redis.Redis) -> None:
        self.alerts().release(connection)
        if self.leading:
            leases.release(connection, LEADER_KEY, self.name)
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
                    self.leading = self.alerts().holding = False
                    connection = None
                    log.error(
                        "Redis unavailable (%s); retrying in %.0f s", getattr(exc, "message", exc), wait
                    )
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
