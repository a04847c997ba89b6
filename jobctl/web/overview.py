"""The overview page's reads. Like the terminal dashboard's main screen, each costs O(1) in queue
length: queue counts (LLEN/ZCARD per physical queue and state), the paused set, one record per
worker, 60 minute and 24 hour metric buckets per queue (one HGETALL each), the heads of each queue
(oldest waiting), the alert rules' stored state."""

from __future__ import annotations

from typing import Any

import redis

from jobctl.config import Settings
from jobctl.core import alert_rules, ops
from jobctl.core.catalog import DEAD_LETTER, PRIORITIES
from jobctl.core.metrics import bucket_window, quantile_text
from jobctl.core.sizes import human_size
from jobctl.core.stats import STATES, list_workers, oldest_waiting, queue_stats
from jobctl.durations import format_seconds

WINDOWS = (("1h", "m", 60), ("24h", "h", 24))  # label, metric bucket unit, buckets
STALE_HEARTBEAT = 60.0  # seconds: a live worker whose heartbeat is older than this is shown as late


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return "now" if seconds < 1 else format_seconds(round(seconds))


def _rss(value: int | None) -> str:
    return "-" if value is None else f"{value / 1024**2:.0f} MB"


def _health(worker: dict[str, Any]) -> str:
    if not worker["alive"]:
        return "dead"
    age = worker["heartbeat_age_seconds"]
    return "late" if age is not None and age > STALE_HEARTBEAT else "ok"


def _window_row(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        "completed": figures["completed"],
        "failed": figures["failed"],
        "per_minute": figures["throughput_per_minute"],
        "error_rate": f"{figures['error_rate'] * 100:.1f}%",
        "wait_p95": quantile_text(figures["wait_ms"], "p95"),
        "run_p95": quantile_text(figures["processing_ms"], "p95"),
        "series": figures["series"],
    }


def read_overview(connection: redis.Redis, settings: Settings) -> dict[str, Any]:
    stats = queue_stats(connection, settings)
    paused = ops.paused_queues(connection)
    runs = [q["queue"] for q in stats["queues"] if q["queue"] != DEAD_LETTER]  # the DLQ runs nothing
    windows = {label: bucket_window(connection, runs, unit, count) for label, unit, count in WINDOWS}
    oldest = oldest_waiting(connection, settings, runs)
    queues = []
    for q in stats["queues"]:
        name = q["queue"]
        queues.append(
            {
                "name": name,
                "dead_letter": name == DEAD_LETTER,
                "paused": name in paused,
                "workers": q["workers"],
                "totals": q["totals"],
                "priorities": [(p, q["priorities"][p]) for p in PRIORITIES if q["priorities"].get(p)],
                "oldest": _age(oldest.get(name)),
                "windows": {label: _window_row(windows[label][name]) for label, _, _ in WINDOWS}
                if name in runs
                else {},
            }
        )
    workers = [
        {
            **w,
            "health": _health(w),
            "heartbeat": _age(w["heartbeat_age_seconds"]),
            "rss": _rss(w["rss_bytes"]),
            "running_for": _age(w["current_job_seconds"]),
        }
        for w in list_workers(connection, settings)
    ]
    alerts = alert_rules.overview(connection, settings)
    firing = [
        {"rule": rule["rule"], **subject}
        for rule in alerts["rules"]
        for subject in rule["subjects"]
        if subject["firing"] and rule["enabled"]
    ]
    return {
        "states": STATES,
        "queues": queues,
        "windows": [label for label, _, _ in WINDOWS],
        "workers": workers,
        "alerts": {"evaluation": alerts["evaluation"], "firing": firing},
        "dead_letter": stats["dead_letter"],
        "audit": {
            **stats["audit"],
            "size": "-" if stats["audit"]["bytes"] is None else human_size(stats["audit"]["bytes"]),
        },
        "oldest": _age(max((a for a in oldest.values() if a is not None), default=None)),
        "generated_at": stats["generated_at"],
    }
