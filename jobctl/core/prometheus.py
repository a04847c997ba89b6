"""The Prometheus text exposition format (version 0.0.4) of jobctl's counts and metrics.

Gauges come from `queue_stats` (fixed LLEN/ZCARD calls), counters and histograms from the
all-time metric hashes, so a scrape costs the same with 10 or 10 million waiting jobs.
"""

from __future__ import annotations

import math

import redis

from jobctl.config import Settings
from jobctl.core import metrics
from jobctl.core.catalog import DEAD_LETTER
from jobctl.core.stats import STATES, queue_stats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _line(name: str, labels: dict[str, str], value: float) -> str:
    inner = ",".join(f'{k}="{_label(str(v))}"' for k, v in labels.items())
    number = "+Inf" if value == math.inf else (f"{value:g}" if isinstance(value, float) else str(value))
    return f"{name}{{{inner}}} {number}" if inner else f"{name} {number}"


def _histogram(out: list[str], name: str, queue: str, counts: dict[str, int], prefix: str, sum_field: str) -> None:
    cumulative = 0
    for index, bound in enumerate(metrics.BUCKETS_MS):
        cumulative += counts.get(f"{prefix}{index}", 0)
        le = "+Inf" if math.isinf(bound) else f"{bound / 1000:g}"
        out.append(_line(f"{name}_bucket", {"queue": queue, "le": le}, cumulative))
    out.append(_line(f"{name}_sum", {"queue": queue}, counts.get(sum_field, 0) / 1000))
    out.append(_line(f"{name}_count", {"queue": queue}, cumulative))


def render(connection: redis.Redis, settings: Settings) -> str:
    stats = queue_stats(connection, settings)
    # the dead-letter queue runs nothing: its entries are jobctl_dead_letter_jobs, not a queue's series
    runnable = [q for q in stats["queues"] if q["queue"] != DEAD_LETTER]
    names = [q["queue"] for q in runnable]
    totals = metrics.totals(connection, names)
    out = ["# HELP jobctl_queue_jobs Jobs per queue, priority and state right now.",
           "# TYPE jobctl_queue_jobs gauge"]
    for q in runnable:
        for prio, counts in q["priorities"].items():
            for state in STATES:
                out.append(_line("jobctl_queue_jobs", {"queue": q["queue"], "priority": prio, "state": state},
                                 counts[state]))
    out += ["# HELP jobctl_queue_workers Live workers (heartbeat within 3 intervals) listening to the queue.",
            "# TYPE jobctl_queue_workers gauge"]
    out += [_line("jobctl_queue_workers", {"queue": q["queue"]}, q["workers"]) for q in runnable]
    out += ["# HELP jobctl_dead_letter_jobs Entries in the dead-letter queue.", "# TYPE jobctl_dead_letter_jobs gauge",
            _line("jobctl_dead_letter_jobs", {}, stats["dead_letter"])]
    out += ["# HELP jobctl_jobs_total Job outcomes since metrics began (failed counts every failed attempt).",
            "# TYPE jobctl_jobs_total counter"]
    for name in names:
        for outcome in metrics.OUTCOMES:
            out.append(_line("jobctl_jobs_total", {"queue": name, "outcome": outcome}, totals[name].get(outcome, 0)))
    out += ["# HELP jobctl_job_duration_seconds Time from start to end of an attempt.",
            "# TYPE jobctl_job_duration_seconds histogram"]
    for name in names:
        _histogram(out, "jobctl_job_duration_seconds", name, totals[name], "p", "proc_ms")
    out += ["# HELP jobctl_job_wait_seconds Time from enqueue to start.", "# TYPE jobctl_job_wait_seconds histogram"]
    for name in names:
        _histogram(out, "jobctl_job_wait_seconds", name, totals[name], "w", "wait_ms")
    return "\n".join(out) + "\n"
