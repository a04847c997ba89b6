"""The dashboard's reads, run in a worker thread. Every read costs O(1) in queue length: queue
counts (LLEN/ZCARD), the worker list, one page of one queue state, one job, one DLQ page (a
filtered one reads at most DLQ_SCAN entries, then says where it stopped), the DLQ's error groups
(O(groups))."""

from __future__ import annotations

from typing import Any

import redis

from jobctl.config import Settings
from jobctl.core import dlq, ops
from jobctl.core.browse import job_detail, queue_jobs
from jobctl.core.catalog import DEAD_LETTER, queue_catalog
from jobctl.core.metrics import recent_series, window_stats
from jobctl.core.stats import list_workers, oldest_waiting, queue_stats

PAGE = 50
DLQ_SCAN = 5000  # dead letters a filtered page reads at most per refresh; `n` searches on from there
SPARK_MINUTES = 30
WINDOW_MINUTES = 15  # throughput, error % and time quantiles on the main screen: the last 15 minutes


def series(connection: redis.Redis, queue: str) -> dict[str, list[int]]:
    """Per-minute completed/failed counts; empty when a metrics bug makes the read fail."""
    try:
        return recent_series(connection, queue, minutes=SPARK_MINUTES)
    except (redis.ConnectionError, redis.TimeoutError):
        raise
    except Exception:  # noqa: BLE001 - a metrics bug must not take the dashboard down
        return {"completed": [], "failed": []}


def window(connection: redis.Redis, queues: list[str]) -> dict[str, dict[str, Any]]:
    """Each queue's throughput, error rate and time quantiles over WINDOW_MINUTES (one HGETALL per
    minute bucket); empty when a metrics bug makes the read fail. Tests replace this."""
    try:
        return window_stats(connection, queues, WINDOW_MINUTES * 60)
    except (redis.ConnectionError, redis.TimeoutError):
        raise
    except Exception:  # noqa: BLE001 - a metrics bug must not take the dashboard down
        return {}


def oldest(connection: redis.Redis, settings: Settings) -> dict[str, float | None]:
    """How long each queue's oldest waiting job has waited, in seconds. Tests replace this."""
    return oldest_waiting(connection, settings)


def workers(connection: redis.Redis, settings: Settings) -> list[dict[str, Any]]:
    """Every registered worker, alive by the same rule as queue_stats' counts. Tests replace this."""
    return list_workers(connection, settings)


def read_main(connection: redis.Redis, settings: Settings) -> dict[str, Any]:
    """Per queue a fixed number of commands, whatever its length: counts, the heads of its lists,
    SPARK_MINUTES + WINDOW_MINUTES metric buckets; then one record per worker."""
    stats = queue_stats(connection, settings)
    runs = [q["queue"] for q in stats["queues"] if q["queue"] != DEAD_LETTER]  # it runs nothing
    return {
        "stats": stats,
        "paused": ops.paused_queues(connection),
        "workers": workers(connection, settings),
        "series": {name: series(connection, name) for name in runs},
        "window": window(connection, runs),
        "window_minutes": WINDOW_MINUTES,
        "oldest": oldest(connection, settings),
    }


def read_jobs(
    connection: redis.Redis, settings: Settings, queue: str, state: str, selected: str | None, offset: int = 0
) -> dict[str, Any]:
    page = queue_jobs(connection, settings, queue, state, offset, PAGE)
    detail = None
    if selected:
        try:
            detail = job_detail(connection, settings, selected)
        except Exception as exc:
            if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
                raise
            detail = {"id": selected, "gone": str(getattr(exc, "message", exc))}
    return {"page": page, "detail": detail, "paused": queue in ops.paused_queues(connection)}


def dlq_filters(settings: Settings, text: str) -> dict[str, str | None]:
    """The filter box: a queue name filters by queue, anything else by error text."""
    text = (text or "").strip()
    if not text:
        return {"queue": None, "error_contains": None}
    if text in queue_catalog(settings):
        return {"queue": text, "error_contains": None}
    return {"queue": None, "error_contains": text}


def read_dlq(
    connection: redis.Redis,
    settings: Settings,
    text: str,
    cursor: str | None,
    selected: str | None,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    """One page of dead letters matching the filter box and an error group (`fingerprint`), searched
    server side across every entry, at most DLQ_SCAN of them per read."""
    page = dlq.list_entries(
        connection,
        settings,
        limit=PAGE,
        cursor=cursor,
        fingerprint=fingerprint,
        scan_limit=DLQ_SCAN,
        **dlq_filters(settings, text),
    )
    entry = dlq.read_entry(connection, selected) if selected else None
    return {"page": page, "entry": entry}


def read_dlq_groups(connection: redis.Redis, settings: Settings) -> dict[str, Any]:
    """The dead letters grouped by error fingerprint (dlq.groups: O(groups))."""
    return dlq.groups(connection, settings)
