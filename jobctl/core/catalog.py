"""The eight queues, their priorities and policies.

Each catalogue queue is three plain RQ queues, one per priority (`email-sending:high`, ...), so
`rq info` still shows everything and a worker drains them in order high -> normal -> low.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from jobctl.config import Settings
from jobctl.core.settings_cache import once_per_settings
from jobctl.errors import ConfigError, NotFound, UsageError

PRIORITIES: tuple[str, ...] = ("high", "normal", "low")
DEAD_LETTER = "dead-letter"


BACKOFF_KINDS = ("exponential", "fixed", "list")
JITTER_MODES = ("none", "equal", "full")


@dataclass(frozen=True)
class Backoff:
    kind: str = "exponential"  # exponential | fixed | list
    base: float = 30.0
    factor: float = 2.0
    cap: float = 3600.0
    jitter: bool | str = False  # False/"none", True/"equal", "full"
    delays_list: tuple[float, ...] = ()  # kind "list": the delay before retry 1, 2, ...; the last repeats

    @property
    def jitter_mode(self) -> str:
        if self.jitter is True:
            return "equal"
        return self.jitter or "none"

    def nominal(self, n: int) -> float:
        """The delay before retry n+1, before jitter."""
        if self.kind == "list":
            return self.delays_list[min(n, len(self.delays_list) - 1)] if self.delays_list else 0
        if self.kind == "fixed":
            return self.base
        return min(self.cap, self.base * self.factor**n)

    def delays(self, retries: int, rng: random.Random | None = None) -> list[int]:
        """Seconds to wait before retry 1..retries."""
        uniform = rng.uniform if rng else random.uniform
        out = []
        for n in range(retries):
            delay = self.nominal(n)
            if self.jitter_mode == "equal":  # never below half the nominal delay: backoff still grows
                delay = delay / 2 + uniform(0, delay / 2)
            elif self.jitter_mode == "full":  # anywhere in [0, nominal]: spreads a thundering herd most
                delay = uniform(0, delay)
            out.append(max(0, round(delay)))
        return out

    def validate(self) -> None:
        if self.kind not in BACKOFF_KINDS:
            raise ValueError(f"kind must be one of {', '.join(BACKOFF_KINDS)}")
        if self.jitter not in (True, False) and self.jitter not in JITTER_MODES:
            raise ValueError(f"jitter must be true, false or one of {', '.join(JITTER_MODES)}")
        if self.base < 0 or self.cap < 0 or self.factor < 1 or any(d < 0 for d in self.delays_list):
            raise ValueError("base, cap and delays must be >= 0 and factor >= 1")
        if self.kind == "list" and not self.delays_list:
            raise ValueError("kind list needs delays = [seconds, ...]")


@dataclass(frozen=True)
class QueuePolicy:
    name: str
    priority: str | None
    attempts: int
    backoff: Backoff | None
    timeout: int | None
    keep_completed: int | None  # None: until purged
    keep_failed: int | None
    completed_ttl: int = 7 * 86400  # age limit, seconds
    failed_ttl: int = 30 * 86400
    description: str = ""

    @property
    def is_dead_letter(self) -> bool:
        return self.name == DEAD_LETTER

    def physical(self, priority: str | None = None) -> str:
        """The RQ queue name for one priority of this queue."""
        if self.is_dead_letter:
            return self.name
        return f"{self.name}:{priority or self.priority}"

    @property
    def physical_names(self) -> list[str]:
        if self.is_dead_letter:
            return [self.name]
        return [self.physical(p) for p in PRIORITIES]

    def describe(self) -> dict[str, Any]:
        """The policy as plain data, as `queue list --json` and the HTTP API show it."""
        return {
            "priority": self.priority,
            "attempts": self.attempts,
            "timeout": self.timeout,
            "keep_completed": self.keep_completed,
            "keep_failed": self.keep_failed,
            "backoff": vars(self.backoff) if self.backoff else None,
            "physical": self.physical_names,
            "description": self.description,
        }

    def retry_delays(self) -> list[int]:
        if not self.backoff or self.attempts <= 1:
            return []
        return self.backoff.delays(self.attempts - 1)


def _policy(name, priority, attempts, backoff, timeout, keep_completed, keep_failed, description):
    return QueuePolicy(
        name, priority, attempts, backoff, timeout, keep_completed, keep_failed, description=description
    )


MIN, HOUR = 60, 3600
DEFAULT_CATALOG: dict[str, QueuePolicy] = {
    p.name: p
    for p in (
        _policy(
            "email-sending",
            "normal",
            5,
            Backoff(base=30, cap=HOUR, jitter=True),
            60,
            1000,
            5000,
            "transactional and bulk email",
        ),
        _policy(
            "file-processing",
            "high",
            3,
            Backoff(base=10, cap=HOUR),
            300,
            500,
            1000,
            "uploads: validation, virus scan, images",
        ),
        _policy(
            "analytics-aggregation",
            "low",
            3,
            Backoff(base=60, cap=HOUR),
            30 * MIN,
            100,
            500,
            "hourly/daily/weekly/monthly roll-ups",
        ),
        _policy(
            "payment-retry",
            "normal",
            5,
            Backoff(base=60, cap=HOUR),
            120,
            1000,
            5000,
            "retries of failed payments",
        ),
        _policy(
            "referral-commission",
            "normal",
            5,
            Backoff(base=30, cap=HOUR),
            120,
            1000,
            5000,
            "multi-level referral commissions",
        ),
        _policy(
            "daily-reports",
            "low",
            3,
            Backoff(base=5 * MIN, cap=HOUR),
            30 * MIN,
            30,
            100,
            "daily report, 06:00 UTC",
        ),
        _policy(
            "weekly-reports",
            "low",
            3,
            Backoff(base=5 * MIN, cap=HOUR),
            60 * MIN,
            12,
            100,
            "weekly report, Mondays 08:00 UTC",
        ),
        _policy(DEAD_LETTER, None, 1, None, None, None, None, "jobs that exhausted their attempts"),
    )
}

# type[Any]: each value is checked against its type below, then compared as that type
_OVERRIDABLE: dict[str, type[Any]] = {
    "priority": str,
    "attempts": int,
    "timeout": int,
    "keep_completed": int,
    "keep_failed": int,
    "completed_ttl": int,
    "failed_ttl": int,
}
_BACKOFF_KEYS = {f.name for f in fields(Backoff)} - {"delays_list"} | {"delays"}


def _override(policy: QueuePolicy, raw: Mapping[str, Any], where: str) -> QueuePolicy:
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        label = f"queues.{policy.name}.{key} in {where}"
        if key == "backoff":
            if not isinstance(value, Mapping) or set(value) - _BACKOFF_KEYS:
                raise ConfigError(
                    f"invalid {label}: expected a table with {', '.join(sorted(_BACKOFF_KEYS))}",
                    "fix the [queues] table",
                )
            try:
                table = dict(value)
                if "delays" in table:
                    table["delays_list"] = tuple(float(d) for d in table.pop("delays"))
                    table.setdefault("kind", "list")
                backoff = replace(policy.backoff or Backoff(), **table)
                backoff.validate()
            except (TypeError, ValueError) as exc:
                raise ConfigError(
                    f"invalid {label}: {value!r} ({exc})",
                    "kind is exponential, fixed or list; jitter none, equal or full",
                ) from None
            changes["backoff"] = backoff
            continue
        if key not in _OVERRIDABLE:
            raise ConfigError(
                f"unknown setting {label}", f"valid: {', '.join(sorted([*_OVERRIDABLE, 'backoff']))}"
            )
        if not isinstance(value, _OVERRIDABLE[key]) or isinstance(value, bool):
            raise ConfigError(f"invalid {label}: {value!r}", f"expected {_OVERRIDABLE[key].__name__}")
        if key == "priority" and value not in PRIORITIES:
            raise ConfigError(f"invalid {label}: {value!r}", f"use one of {', '.join(PRIORITIES)}")
        if key == "attempts" and value < 1:
            raise ConfigError(
                f"invalid {label}: {value!r}", "attempts counts the first try too: use 1 or more"
            )
        if key != "priority" and key != "attempts" and value < 0:
            raise ConfigError(f"invalid {label}: {value!r}", "use a number >= 0")
        changes[key] = value
    return replace(policy, **changes)


def build_catalog(
    overrides: Mapping[str, Mapping[str, Any]], where: str = "jobctl.toml"
) -> dict[str, QueuePolicy]:
    catalog = dict(DEFAULT_CATALOG)
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"invalid queues in {where}", "expected [queues.NAME] tables")
    for name, raw in overrides.items():
        if name not in catalog:
            raise ConfigError(f"unknown queue {name!r} in {where}", f"queues are: {', '.join(catalog)}")
        if name == DEAD_LETTER:
            raise ConfigError(
                f"queue {DEAD_LETTER!r} has no policy to override ({where})", "remove [queues.dead-letter]"
            )
        if not isinstance(raw, Mapping):
            raise ConfigError(f"invalid queues.{name} in {where}", "expected a table")
        catalog[name] = _override(catalog[name], raw, where)
    return catalog


@once_per_settings
def queue_catalog(settings: Settings) -> dict[str, QueuePolicy]:
    """The settings' queue catalogue (defaults with their [queues] tables applied), built once per
    settings load: it is read on every enqueue and stats call."""
    return build_catalog(settings.queue_overrides, settings.queue_source)


def get_policy(catalog: Mapping[str, QueuePolicy], name: str) -> QueuePolicy:
    try:
        return catalog[name]
    except KeyError:
        raise NotFound(f"unknown queue {name!r}", f"queues are: {', '.join(catalog)}") from None


def check_priority(priority: str | None) -> str | None:
    if priority is not None and priority not in PRIORITIES:
        raise UsageError(f"unknown priority {priority!r}", f"use one of {', '.join(PRIORITIES)}")
    return priority


def split_physical(physical: str) -> tuple[str, str | None]:
    """`email-sending:high` -> ("email-sending", "high")."""
    name, _, priority = physical.rpartition(":")
    if name and priority in PRIORITIES:
        return name, priority
    return physical, None
