"""Queue counts and worker listings.

Counts come from LLEN/ZCARD/SCARD in one pipelined round trip, so their cost does not grow with
queue length. Registries are read without RQ's implicit cleanup (which would move jobs around).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import redis
from rq import Worker
from rq.job import Job
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from jobctl.config import Settings
from jobctl.core import keys
from jobctl.core.catalog import PRIORITIES, get_policy
from jobctl.core.durations import parse_seconds
from jobctl.core.payloads import PayloadSerializer
from jobctl.errors import UsageError

STATES = ("waiting", "active", "scheduled", "completed", "failed")
REGISTRIES = {
    "active": StartedJobRegistry,
    "scheduled": ScheduledJobRegistry,
    "completed": FinishedJobRegistry,
    "failed": FailedJobRegistry,
    "deferred": DeferredJobRegistry,
}


def registry_key(state: str, physical: str) -> str:
    return REGISTRIES[state].key_template.format(physical)


def queue_key(physical: str) -> str:
    from rq import Queue

    return Queue.redis_queue_namespace_prefix + physical


def queue_stats(connection: redis.Redis, settings: Settings, queue: str | None = None) -> dict[str, Any]:
    """Per queue and priority: waiting/active/scheduled/completed/failed; workers; dead-letter size."""
    catalog = settings.queues
    names = [get_policy(catalog, queue).name] if queue else list(catalog)
    plan: list[tuple[str, str, str]] = []  # (queue, priority, field) in pipeline order
    pipe = connection.pipeline(transaction=False)
    for name in names:
        policy = catalog[name]
        if policy.is_dead_letter:
            continue
        for prio in PRIORITIES:
            physical = policy.physical(prio)
            pipe.llen(queue_key(physical))
            plan.append((name, prio, "waiting"))
            for state in ("active", "scheduled", "completed", "failed"):
                pipe.zcard(registry_key(state, physical))
                plan.append((name, prio, state))
            pipe.scard(WORKERS_BY_QUEUE_KEY % physical)
            plan.append((name, prio, "workers"))
    pipe.zcard(keys.dlq_index())
    results = pipe.execute()
    dead_letter = results.pop()

    queues: dict[str, dict[str, Any]] = {}
    for (name, prio, fld), value in zip(plan, results):
        q = queues.setdefault(name, {
            "queue": name,
            "default_priority": catalog[name].priority,
            "priorities": {p: dict.fromkeys(STATES, 0) for p in PRIORITIES},
            "workers": 0,
        })
        if fld == "workers":
            # our workers listen to all three priorities; the max avoids counting one worker thrice
            q["workers"] = max(q["workers"], int(value))
        else:
            q["priorities"][prio][fld] = int(value)
    for q in queues.values():
        q["totals"] = {s: sum(q["priorities"][p][s] for p in PRIORITIES) for s in STATES}
    return {
        "queues": list(queues.values()),
        "dead_letter": int(dead_letter),
        "generated_at": datetime.now(timezone.utc).isoformat(),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_ts(raw: bytes | str) -> datetime:
    text = raw.decode() if isinstance(raw, bytes) else raw
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=timezone.utc)


def list_workers(connection: redis.Redis, settings: Settings | None = None,
                 now: datetime | None = None) -> list[dict[str, Any]]:
    """Every registered worker: queues, state, current job and its runtime, pid, host, heartbeat age,
    alive (a heartbeat within 3 intervals), jobs done/failed, resident memory."""
    now = now or datetime.now(timezone.utc)
    interval = settings.heartbeat_interval if settings is not None else 10
    workers = Worker.all(connection=connection, serializer=PayloadSerializer)
    with connection.pipeline(transaction=False) as pipe:
        for w in workers:
            pipe.hget(w.key, "current_job")  # jobctl workers keep it here; RQ 3's own keep executions
        own = pipe.execute()
    currents = [o.decode() if o else w.get_current_job_id() for w, o in zip(workers, own)]
    with connection.pipeline(transaction=False) as pipe:
        for w, current in zip(workers, currents):
            pipe.hget(w.key, "rss_bytes")
            pipe.hget(Job.key_for(current), "started_at") if current else pipe.echo("")
        extra = pipe.execute()
    rows = []
    for index, (w, current) in enumerate(zip(workers, currents)):
        state = w.get_state()
        rss, started = extra[2 * index], extra[2 * index + 1]
        age = (now - w.last_heartbeat).total_seconds() if w.last_heartbeat else None
        running = (now - _parse_ts(started)).total_seconds() if started else None
        rows.append({
            "name": w.name,
            "queues": w.queue_names(),
            "state": getattr(state, "value", state),
            "current_job": current,
            "current_job_seconds": round(running, 1) if running is not None else None,
            "pid": w.pid,
            "host": w.hostname,
            "last_heartbeat": _iso(w.last_heartbeat),
            "heartbeat_age_seconds": round(age, 1) if age is not None else None,
            "alive": age is not None and age <= 3 * interval + 1,
            "birth": _iso(w.birth_date),
            "jobs_done": w.successful_job_count,
            "jobs_failed": w.failed_job_count,
            "rss_bytes": int(rss) if rss else None,
        })
    rows.sort(key=lambda r: r["name"])
    return rows


def parse_window(text: str | None, name: str = "--window") -> float | None:
    """A metrics window ('15m', '1h', '7d') in seconds; None for none. At most the 30 days kept."""
    if not text:
        return None
    from jobctl.core.metrics import MAX_WINDOW

    seconds = parse_seconds(text, name, positive=True, bare=False)
    if seconds > MAX_WINDOW:
        raise UsageError(f"{name} {text} is longer than the 30 days metrics are kept", f"e.g. {name} 7d")
    return seconds


def stats_with_window(connection: redis.Redis, settings: Settings, queue: str | None = None,
                      window: float | None = None) -> dict[str, Any]:
    """`queue_stats`, plus with `window` (seconds) each queue's metrics over that span."""
    data = queue_stats(connection, settings, queue)
    if window:
        from jobctl.core.metrics import window_stats

        names = [q["queue"] for q in data["queues"]]
        data["window"] = {"seconds": window, "queues": window_stats(connection, names, window)}
    return data
