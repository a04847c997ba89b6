"""Which workers are alive: the one heartbeat rule every face and alert rule reads.

A worker is alive while its record exists, carries no `death` mark (a clean shutdown), and its
last heartbeat is at most HEARTBEAT_MISSES intervals (plus GRACE_SECONDS) old. The interval is
the worker's own (jobctl workers record it at start), else this process's setting.

RQ's registration sets (`rq:workers`, `rq:workers:<queue>`) are not a liveness signal: a SIGKILLed
worker stays in them until someone cleans them, which is why counting them (SCARD) showed dead
workers as present for minutes. Reads here cost O(workers) (one SMEMBERS, one pipelined HMGET per
worker), never O(jobs). `prune_registrations` removes the members whose record has expired.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from rq import Worker
from rq.worker_registration import REDIS_WORKER_KEYS, WORKERS_BY_QUEUE_KEY

from jobctl.config import Settings
from jobctl.core.catalog import QueuePolicy

HEARTBEAT_MISSES = 3
GRACE_SECONDS = 1.0  # a beat in flight, clocks a little apart
INTERVAL_FIELD = "jobctl_heartbeat_interval"  # written by jobctl's worker at start
FIELDS = ("last_heartbeat", "queues", "death", INTERVAL_FIELD)


def heartbeat_bound(interval: float) -> float:
    """Seconds after its last heartbeat at which a worker counts as dead."""
    return HEARTBEAT_MISSES * interval + GRACE_SECONDS


def parse_time(raw: bytes | str | None) -> datetime | None:
    """A worker record's timestamp (RQ's `...Z` or an ISO offset) as aware UTC; None when unreadable."""
    if not raw:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def is_alive(last_heartbeat: datetime | None, interval: float, now: datetime, *, died: bool = False) -> bool:
    if died or last_heartbeat is None:
        return False
    return (now - last_heartbeat).total_seconds() <= heartbeat_bound(interval)


def _interval(raw: bytes | str | None, default: float) -> float:
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 else default


@dataclass(frozen=True)
class WorkerBeat:
    """What the liveness rule reads of one worker record."""

    name: str
    queues: tuple[str, ...]  # physical RQ queue names
    last_heartbeat: datetime | None
    interval: float
    alive: bool


def _name(key: str) -> str:
    return key[len(Worker.redis_worker_namespace_prefix) :]


def worker_beats(
    connection: redis.Redis, settings: Settings | None = None, now: datetime | None = None
) -> list[WorkerBeat]:
    """Every registered worker whose record still exists, with the liveness rule applied."""
    now = now or datetime.now(UTC)
    default = settings.heartbeat_interval if settings is not None else 10
    members = connection.smembers(REDIS_WORKER_KEYS)
    worker_keys = sorted(k.decode() if isinstance(k, bytes) else k for k in members)
    if not worker_keys:
        return []
    with connection.pipeline(transaction=False) as pipe:
        for key in worker_keys:
            pipe.hmget(key, *FIELDS)
        records = pipe.execute()
    beats = []
    for key, (beat, queues, death, interval) in zip(worker_keys, records):
        if beat is None and queues is None:
            continue  # the record expired: a registration left behind (see prune_registrations)
        last = parse_time(beat)
        seconds = _interval(interval, default)
        text = queues.decode() if isinstance(queues, bytes) else queues or ""
        alive = is_alive(last, seconds, now, died=bool(death))
        beats.append(WorkerBeat(_name(key), tuple(q for q in text.split(",") if q), last, seconds, alive))
    return beats


def live_workers(
    connection: redis.Redis, settings: Settings | None = None, now: datetime | None = None
) -> list[WorkerBeat]:
    """The workers alive now (see the module's rule)."""
    return [b for b in worker_beats(connection, settings, now) if b.alive]


def live_counts(catalog: Mapping[str, QueuePolicy], beats: Iterable[WorkerBeat]) -> dict[str, int]:
    """Live workers per catalogue queue: a worker listening to any of a queue's priorities counts once."""
    counts = dict.fromkeys(catalog, 0)
    owner = {physical: name for name, policy in catalog.items() for physical in policy.physical_names}
    for beat in beats:
        if beat.alive:
            for name in {owner[q] for q in beat.queues if q in owner}:
                counts[name] += 1
    return counts


# members whose worker record is gone, removed in one atomic step: a worker reborn under the same
# name between a check and a removal would otherwise lose its fresh registration
PRUNE = """
local removed = 0
for _, set in ipairs(KEYS) do
  for _, member in ipairs(redis.call('SMEMBERS', set)) do
    if redis.call('EXISTS', member) == 0 then
      removed = removed + redis.call('SREM', set, member)
    end
  end
end
return removed
"""


def prune_registrations(connection: redis.Redis, catalog: Mapping[str, QueuePolicy]) -> int:
    """Drop registrations whose worker record has expired (what RQ's clean_worker_registry does,
    for every catalogue queue at once). Reads are right without this; it keeps the sets small and
    `rq info` tidy. O(registered workers). Returns how many members were removed."""
    sets = [REDIS_WORKER_KEYS] + [
        WORKERS_BY_QUEUE_KEY % p for policy in catalog.values() for p in policy.physical_names
    ]
    return int(connection.register_script(PRUNE)(keys=sets))
