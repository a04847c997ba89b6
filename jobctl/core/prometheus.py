"""The Prometheus text exposition format (version 0.0.4) of jobctl's counts and metrics.

prometheus_client writes the text: it owns the format (HELP/TYPE lines, label escaping, number
formatting, the `_total`, `_bucket`, `_sum` and `_count` series), so jobctl only says what the
numbers are. The numbers already live in Redis, written by workers in other processes, so this is
a custom collector that reads them at scrape time and hands them over as metric families, rather
than Gauge/Counter objects that would keep this process's own counts. Each render registers it on a
private CollectorRegistry: the global one would add the process, platform and GC collectors (about
the process answering the scrape, not the jobs) and would outlive the connection it reads with.

Gauges come from `queue_stats` (fixed LLEN/ZCARD calls), counters and histograms from the
all-time metric hashes, so a scrape costs the same with 10 or 10 million waiting jobs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import redis
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from jobctl.config import Settings
from jobctl.core import metrics
from jobctl.core.catalog import DEAD_LETTER
from jobctl.core.stats import STATES, queue_stats

# generate_latest writes format 0.0.4; prometheus_client's CONTENT_TYPE_LATEST names 1.0.0 now
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# `le` label values as jobctl has always written them ("0.005", "1", "+Inf"): a dashboard or
# recording rule that matches on le="1" keeps working
_BUCKET_BOUNDS = tuple("+Inf" if math.isinf(ms) else f"{ms / 1000:g}" for ms in metrics.BUCKETS_MS)


class RedisMetricsCollector(Collector):
    """jobctl's queue gauges, outcome counters and time histograms, read from Redis on each collect."""

    def __init__(self, connection: redis.Redis, settings: Settings) -> None:
        self.connection = connection
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        stats = queue_stats(self.connection, self.settings)
        # the dead-letter queue runs nothing: its entries are jobctl_dead_letter_jobs, not a queue's series
        runnable = [q for q in stats["queues"] if q["queue"] != DEAD_LETTER]
        names = [q["queue"] for q in runnable]
        totals = metrics.totals(self.connection, names)
        yield _queue_jobs(runnable)
        yield _queue_workers(runnable)
        yield GaugeMetricFamily(
            "jobctl_dead_letter_jobs", "Entries in the dead-letter queue.", value=stats["dead_letter"]
        )
        yield _jobs_total(names, totals)
        yield _histogram(
            "jobctl_job_duration_seconds",
            "Time from start to end of an attempt.",
            names,
            totals,
            "p",
            "proc_ms",
        )
        yield _histogram(
            "jobctl_job_wait_seconds", "Time from enqueue to start.", names, totals, "w", "wait_ms"
        )


def _queue_jobs(runnable: list[dict[str, Any]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "jobctl_queue_jobs",
        "Jobs per queue, priority and state right now.",
        labels=("queue", "priority", "state"),
    )
    for q in runnable:
        for prio, counts in q["priorities"].items():
            for state in STATES:
                family.add_metric((q["queue"], prio, state), counts[state])
    return family


def _queue_workers(runnable: list[dict[str, Any]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "jobctl_queue_workers",
        "Live workers (heartbeat within 3 intervals) listening to the queue.",
        labels=("queue",),
    )
    for q in runnable:
        family.add_metric((q["queue"],), q["workers"])
    return family


def _jobs_total(names: Sequence[str], totals: dict[str, dict[str, int]]) -> CounterMetricFamily:
    family = CounterMetricFamily(
        "jobctl_jobs_total",
        "Job outcomes since metrics began (failed counts every failed attempt).",
        labels=("queue", "outcome"),
    )
    for name in names:
        for outcome in metrics.OUTCOMES:
            family.add_metric((name, outcome), totals[name].get(outcome, 0))
    return family


def _histogram(
    metric: str,
    help_text: str,
    names: Sequence[str],
    totals: dict[str, dict[str, int]],
    prefix: str,
    sum_field: str,
) -> HistogramMetricFamily:
    """Cumulative buckets from the per-bucket counts (metrics.histogram).

    Redis keeps the sum in ms; Prometheus wants seconds."""
    family = HistogramMetricFamily(metric, help_text, labels=("queue",))
    for name in names:
        counts, cumulative, buckets = totals[name], 0, []
        for bound, count in zip(_BUCKET_BOUNDS, metrics.histogram(counts, prefix)):
            cumulative += count
            buckets.append((bound, cumulative))
        family.add_metric((name,), buckets, counts.get(sum_field, 0) / 1000)
    return family


def render(connection: redis.Redis, settings: Settings) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisMetricsCollector(connection, settings))
    return generate_latest(registry).decode("utf-8")
