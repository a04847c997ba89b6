"""Queue counts and worker listings.

Counts come from LLEN/ZCARD in one pipelined round trip, so their cost does not grow with queue
length (the whole view adds the audit log's size: XLEN, sampled MEMORY USAGE, its first entry);
worker counts from jobctl.core.liveness (O(workers)). Registries are read without RQ's implicit
cleanup (which would move jobs around).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis
from rq import Queue, Worker
from rq.job import Job
from rq.registry import (
    BaseRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

from jobctl.config import Settings
from jobctl.core import audit, keyspace
from jobctl.core.catalog import DEAD_LETTER, PRIORITIES, get_policy, queue_catalog
from jobctl.core.liveness import live_counts, parse_time, worker_beats
from jobctl.core.metrics import MAX_WINDOW, window_stats
from jobctl.core.payloads import PayloadSerializer
from jobctl.durations import parse_seconds
from jobctl.errors import UsageError

STATES = ("waiting", "active", "scheduled", "completed", "failed")
REGISTRIES: dict[str, type[BaseRegistry]] = {
    "active": StartedJobRegistry,
    "scheduled": ScheduledJobRegistry,
    "completed": FinishedJobRegistry,
    "failed": FailedJobRegistry,
    "deferred": DeferredJobRegistry,
}


def registry_key(state: str, physical: str) -> str:
    return REGISTRIES[state].key_template.format(physical)


def queue_key(physical: str) -> str:
    return Queue.redis_queue_namespace_prefix + physical


def _dead_letter_row(entries: int) -> dict[str, Any]:
    """The dead-letter queue as a queue: its entries are failed jobs (what `jobctl dlq list` shows).
    It has no priorities and never a worker."""
    return {
        "queue": DEAD_LETTER,
        "default_priority": None,
        "priorities": {},
        "workers": 0,
        "totals": {**dict.fromkeys(STATES, 0), "failed": entries},
    }


def queue_stats(connection: redis.Redis, settings: Settings, queue: str | None = None) -> dict[str, Any]:
    """Per queue and priority: waiting/active/scheduled/completed/failed; live workers (the heartbeat
    rule of jobctl.core.liveness); dead-letter size. The dead-letter queue is a row of its own, its
    entries counted as failed. The whole view (no `queue`) also has `audit`: the audit log's size
    (jobctl.core.audit.log_size), read in the same round trip."""
    catalog = queue_catalog(settings)
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
    pipe.zcard(keyspace.dlq_index())
    if queue is None:
        audit.add_size_reads(pipe)
    # errors come back as replies, not raised: size_of lets a refused MEMORY USAGE pass
    results = pipe.execute(raise_on_error=False)
    audit_size = audit.size_of([results.pop() for _ in range(3)][::-1]) if queue is None else None
    for reply in results:
        if isinstance(reply, Exception):
            raise reply
    dead_letter = int(results.pop())
    workers = live_counts(catalog, worker_beats(connection, settings))

    queues: dict[str, dict[str, Any]] = {}
    for name in names:  # catalogue order, the dead-letter queue in its place
        queues[name] = (
            _dead_letter_row(dead_letter)
            if catalog[name].is_dead_letter
            else {
                "queue": name,
                "default_priority": catalog[name].priority,
                "priorities": {p: dict.fromkeys(STATES, 0) for p in PRIORITIES},
                "workers": workers[name],
            }
        )
    for (name, prio, fld), value in zip(plan, results):
        queues[name]["priorities"][prio][fld] = int(value)
    for name, q in queues.items():
        if not catalog[name].is_dead_letter:
            q["totals"] = {s: sum(q["priorities"][p][s] for p in PRIORITIES) for s in STATES}
    data: dict[str, Any] = {
        "queues": list(queues.values()),
        "dead_letter": dead_letter,
        "generated_at": datetime.now(UTC).isoformat(),
    }
    if audit_size is not None:
        data["audit"] = audit_size
    return data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def list_workers(
    connection: redis.Redis, settings: Settings | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Every registered worker: queues, state, current job and its runtime, pid, host, heartbeat age,
    alive (jobctl.core.liveness: a heartbeat within 3 of its intervals), jobs done/failed, resident
    memory; sorted by host, then name."""
    now = now or datetime.now(UTC)
    beats = {b.name: b for b in worker_beats(connection, settings, now)}
    workers = [w for w in Worker.all(connection=connection, serializer=PayloadSerializer) if w.name in beats]
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
    rows: list[dict[str, Any]] = []
    for index, (w, current) in enumerate(zip(workers, currents)):
        state = w.get_state()
        rss, started = extra[2 * index], extra[2 * index + 1]
        age = (now - w.last_heartbeat).total_seconds() if w.last_heartbeat else None
        started_at = parse_time(started)
        running = (now - started_at).total_seconds() if started_at else None
        rows.append(
            {
                "name": w.name,
                "queues": w.queue_names(),
                "state": getattr(state, "value", state),
                "current_job": current,
                "current_job_seconds": round(running, 1) if running is not None else None,
                "pid": w.pid,
                "host": w.hostname,
                "last_heartbeat": _iso(w.last_heartbeat),
                "heartbeat_age_seconds": round(age, 1) if age is not None else None,
                "alive": beats[w.name].alive,
                "birth": _iso(w.birth_date),
                "jobs_done": w.successful_job_count,
                "jobs_failed": w.failed_job_count,
                "rss_bytes": int(rss) if rss else None,
            }
        )
    rows.sort(key=lambda r: (r["host"] or "", r["name"]))  # grouped by host: many hosts share one Redis
    return rows


def workers_by_host(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per host, in `list_workers` order: how many workers it has and how many of them are alive."""
    hosts: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = hosts.setdefault(r["host"] or "", {"host": r["host"], "workers": 0, "alive": 0})
        entry["workers"] += 1
        entry["alive"] += bool(r["alive"])
    return list(hosts.values())


def parse_window(text: str | None, name: str = "--window") -> float | None:
    """A metrics window ('15m', '1h', '7d') in seconds; None for none. At most the 30 days kept."""
    if not text:
        return None
    seconds = parse_seconds(text, name, positive=True, bare=False)
    if seconds > MAX_WINDOW:
        raise UsageError(f"{name} {text} is longer than the 30 days metrics are kept", f"e.g. {name} 7d")
    return seconds


def stats_with_window(
    connection: redis.Redis, settings: Settings, queue: str | None = None, window: float | None = None
) -> dict[str, Any]:
    """`queue_stats`, plus with `window` (seconds) each queue's metrics over that span."""
    data = queue_stats(connection, settings, queue)
    if window:
        names = [q["queue"] for q in data["queues"] if q["queue"] != DEAD_LETTER]  # it runs nothing
        data["window"] = {"seconds": window, "queues": window_stats(connection, names, window)}
    return data


# Heads read per physical queue: a head whose job hash is gone (deleted, expired) does not hide
# the age of the ones behind it; a fixed number, so the read stays O(1) in queue length.
HEADS = 3


def oldest_waiting(
    connection: redis.Redis, settings: Settings, queues: list[str] | None = None, now: datetime | None = None
) -> dict[str, float | None]:
    """Per queue: the seconds its oldest waiting job has waited (since its `enqueued_at`); None when
    nothing waits. RQ appends to a queue's list, so its oldest jobs are at the head: the first
    HEADS ids of each physical list (one pipelined LRANGE each), then their `enqueued_at` (one
    pipelined HGET each). A priority queue's age is the oldest over its physical lists. The
    dead-letter queue has no waiting jobs and is left out."""
    now = now or datetime.now(UTC)
    catalog = queue_catalog(settings)
    names = [n for n in (queues if queues is not None else list(catalog)) if not catalog[n].is_dead_letter]
    with connection.pipeline(transaction=False) as pipe:
        for name in names:
            for physical in catalog[name].physical_names:
                pipe.lrange(queue_key(physical), 0, HEADS - 1)
        heads = pipe.execute()
    plan: list[str] = []  # the queue of each HGET, in pipeline order
    with connection.pipeline(transaction=False) as pipe:
        lists = iter(heads)
        for name in names:
            for _ in catalog[name].physical_names:
                for job_id in next(lists):
                    pipe.hget(Job.key_for(job_id.decode()), "enqueued_at")
                    plan.append(name)
        enqueued = pipe.execute() if plan else []
    ages: dict[str, float | None] = dict.fromkeys(names)
    for name, raw in zip(plan, enqueued):
        at = parse_time(raw)
        if at is None:  # gone meanwhile, or never enqueued (a deferred job has no enqueued_at)
            continue
        age = max(0.0, (now - at).total_seconds())
        current = ages[name]
        ages[name] = age if current is None else max(current, age)
    return ages
