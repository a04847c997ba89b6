"""Who evaluates the alert rules: one evaluator at a time across processes and hosts.

`jobctl scheduler start`, `jobctl workers start` and `jobctl monitor` each run an AlertEvaluator
and call `step` about once a second. The evaluators compete for one lease (jobctl.core.leases, the
mechanism that elects the active scheduler; it lasts JOBCTL_SCHEDULER_LEASE seconds): the holder
evaluates every `interval` seconds, counted from the last recorded evaluation by anyone, so a
takeover neither skips nor doubles an evaluation; the others stand by and take over within one
lease period after the holder dies. Rules evaluated twice at once could notify a firing twice,
which is what the election prevents.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from jobctl.config import Settings
from jobctl.core import alert_rules, keyspace, leases

log = logging.getLogger("jobctl.alerts")

LEASE_KEY = f"{keyspace.JOBCTL}:alert-rules:evaluator"
DEFAULT_INTERVAL = 15.0


def evaluator_name(host: str | None = None) -> str:
    """HOST:PID:RANDOM; HOST is JOBCTL_HOSTNAME (Settings.host_name) when given, else the machine's."""
    return f"{host or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def evaluator_status(connection: redis.Redis) -> dict[str, Any]:
    """Which evaluator holds the lease now, and for how long."""
    return leases.lease_status(connection, LEASE_KEY)


@dataclass
class AlertEvaluator:
    settings: Settings
    role: str  # what runs it: scheduler, workers or monitor (recorded, shown by `alerts list`)
    interval: float = DEFAULT_INTERVAL
    name: str = ""  # empty: evaluator_name(settings.host_name)
    holding: bool = False

    def __post_init__(self) -> None:
        self.name = self.name or evaluator_name(self.settings.host_name)

    def _lease_ms(self) -> int:
        return int(self.settings.scheduler_lease * 1000)

    def step(
        self, connection: redis.Redis, *, now: float | None = None, force: bool = False
    ) -> list[dict] | None:
        """Keep or take the lease; when holding it and the last evaluation is an interval old (or
        `force`), evaluate the rules and record it. Returns the transitions, or None when this
        evaluator did not evaluate (standing by, or not due yet)."""
        was_holding = self.holding
        self.holding = (
            leases.acquire_or_renew(connection, LEASE_KEY, self.name, self._lease_ms())
            != leases.HELD_ELSEWHERE
        )
        if self.holding and not was_holding:
            log.info("%s %s now evaluates the alert rules (every %g s)", self.role, self.name, self.interval)
        elif was_holding and not self.holding:
            log.warning("%s %s lost the alert evaluator lease; standing by", self.role, self.name)
        if not self.holding:
            return None
        now = time.time() if now is None else now
        if not force and not self._due(connection, now):
            return None
        transitions = alert_rules.evaluate(connection, self.settings, now)
        alert_rules.record_evaluation(
            connection, self.settings, by=self.name, role=self.role, interval=self.interval, now=now
        )
        return transitions

    def step_safely(self, connection: redis.Redis) -> list[dict] | None:
        """`step` for a process with other work (schedules, workers): a broken rule is logged, not
        raised; losing Redis is raised, for the caller's reconnect logic."""
        try:
            return self.step(connection)
        except (redis.ConnectionError, redis.TimeoutError):
            self.holding = False
            raise
        except Exception:  # a broken rule must not stop the schedules or the workers
            log.exception("alert rules could not be evaluated")
            return None

    def _due(self, connection: redis.Redis, now: float) -> bool:
        last = connection.hget(alert_rules.EVALUATED, "at")
        # a little slack: steps come about a second apart, and 14.9 s must not wait for 15.9 s
        return last is None or now - float(last) >= self.interval - min(0.5, self.interval / 10)

    def release(self, connection: redis.Redis) -> None:
        """Give the lease up on a clean stop, so a standby takes over at once."""
        if self.holding:
            leases.release(connection, LEASE_KEY, self.name)
            self.holding = False
