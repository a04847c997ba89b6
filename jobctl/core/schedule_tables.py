"""What a schedule definition may say (name, job type, data, queue, missed policy), and jobctl.toml's
[schedules.NAME] tables read by those rules.

Apart from jobctl.core.schedules (storage, the tick) so that loading settings can check the tables
without the scheduler's imports: the tables are read once per settings load, when the settings are
loaded (`jobctl.core.runtime.load_settings`), so a bad one fails then and not at 3 a.m.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jobctl.config import Settings
from jobctl.core.catalog import check_priority, get_policy, queue_catalog
from jobctl.core.contracts import check_json
from jobctl.core.cron import check_cron, check_tz
from jobctl.core.jobtypes import get_job_type, offered
from jobctl.core.settings_cache import once_per_settings
from jobctl.errors import ConfigError, NotFound, UsageError

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MISSED = ("once", "skip")
TOML_KEYS = ("cron", "tz", "job", "data", "queue", "priority", "missed")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise UsageError(
            f"invalid schedule name {name!r}", "use 1-64 letters, digits, '_' and '-', e.g. nightly-cleanup"
        )
    return name


def check_job_type(job_type: str | None, settings: Settings) -> str:
    """A job type a schedule may name: one the deployment offers (a test-only one only with
    JOBCTL_TEST_JOB_TYPES on)."""
    if not isinstance(job_type, str):
        raise UsageError(f"unknown job type {job_type!r}", f"job types are: {', '.join(offered(settings))}")
    return get_job_type(job_type, settings).name


def check_data(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError("schedule data must be a JSON object", """e.g. --data-json '{"type": "daily"}'""")
    check_json(data, "schedule data")
    return data


def check_missed(missed: str) -> str:
    if missed not in MISSED:
        raise UsageError(
            f"invalid missed policy {missed!r}",
            "once (after downtime, run the latest missed occurrence once) or skip",
        )
    return missed


def check_queue(catalog: Mapping, queue: str | None) -> str | None:
    if queue is None:
        return None
    try:
        policy = get_policy(catalog, queue)
    except NotFound as exc:
        raise UsageError(exc.message, exc.hint) from None
    if policy.is_dead_letter:
        raise UsageError(
            "schedules cannot enqueue on the dead-letter queue", "pick the queue the job belongs to"
        )
    return queue


def parse_schedule_tables(tables: Any, where: str, settings: Settings) -> dict[str, dict[str, Any]]:
    """jobctl.toml's [schedules.NAME] tables, validated at load time (ConfigError naming the key)."""
    if not isinstance(tables, dict):
        raise ConfigError(f"invalid schedules in {where}", "expected [schedules.NAME] tables")
    catalog = queue_catalog(settings)
    out: dict[str, dict[str, Any]] = {}
    for name, table in tables.items():
        label = f"schedules.{name}"
        try:
            check_name(name)
        except UsageError as exc:
            raise ConfigError(f"invalid {label} in {where}: {exc.message}", exc.hint) from None
        if not isinstance(table, dict):
            raise ConfigError(f"invalid {label} in {where}", "expected a table with cron and job")
        unknown = sorted(set(table) - set(TOML_KEYS))
        if unknown:
            raise ConfigError(
                f"unknown setting {label}.{unknown[0]} in {where}", f"valid keys: {', '.join(TOML_KEYS)}"
            )
        for required in ("cron", "job"):
            if required not in table:
                raise ConfigError(
                    f"missing {label}.{required} in {where}", 'e.g. cron = "0 6 * * *" and job = "noop"'
                )
        spec: dict[str, Any] = {}
        checks = (
            ("cron", "cron", check_cron),
            ("tz", "tz", lambda v: check_tz(v) and v),
            ("job", "job_type", lambda v: check_job_type(v, settings)),
            ("data", "data", check_data),
            ("queue", "queue", lambda v: check_queue(catalog, v)),
            ("priority", "priority", check_priority),
            ("missed", "missed", check_missed),
        )
        defaults: dict[str, Any] = {
            "tz": "UTC",
            "data": {},
            "queue": None,
            "priority": None,
            "missed": "once",
        }
        for key, field, check in checks:
            if key not in table:
                spec[field] = defaults[key]
                continue
            value = table[key]
            try:
                if key != "data" and not isinstance(value, str):
                    raise UsageError(f"expected a string, got {value!r}", None)
                spec[field] = check(value)
            except UsageError as exc:
                raise ConfigError(f"invalid {label}.{key} in {where}: {exc.message}", exc.hint) from None
        out[name] = spec
    return out


@once_per_settings
def toml_schedules(settings: Settings) -> dict[str, dict[str, Any]]:
    """The settings' [schedules.NAME] tables as checked definitions (ConfigError naming a bad key)."""
    if not settings.schedule_tables:
        return {}
    return parse_schedule_tables(settings.schedule_tables, settings.schedule_source, settings)
