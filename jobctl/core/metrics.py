"""Job metrics in Redis with bounded memory: per-minute buckets for a day, hourly ones for 30 days.

Per queue, three hashes take the same increments:

    {prefix}:jobctl:metrics:<queue>:m:<unix minute>   expires after 25 h
    {prefix}:jobctl:metrics:<queue>:h:<unix hour>     expires after 31 d
    {prefix}:jobctl:metrics:<queue>:total             kept (Prometheus counters must not go back)

Fields: the outcomes `completed`, `failed` (every failed attempt), `retried` (failed attempts that
will run again), `dead` (dead-lettered) and `enqueued`; `proc_ms`/`wait_ms` sums and `proc_n`/`wait_n`
counts; histogram counts `p<i>`/`w<i>` over BUCKETS_MS for processing time (start to end) and wait
time (enqueued to start). A worker records a job with one script call added to the pipelined
round trip it already makes after each job; reading a window costs one HGETALL per bucket,
whatever the queue lengths.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

import redis

from jobctl.core import keyspace

BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, math.inf)
OUTCOMES = ("completed", "failed", "retried", "dead", "enqueued")
MINUTE_TTL = 25 * 3600
HOUR_TTL = 31 * 86400
MAX_WINDOW = 30 * 86400

# KEYS: minute, hour, total; ARGV: minute ttl, hour ttl, then field/increment pairs
_RECORD = """
for i = 3, #ARGV, 2 do
  for k = 1, 3 do redis.call('HINCRBY', KEYS[k], ARGV[i], ARGV[i + 1]) end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""


def _base(queue: str) -> str:
    return f"{keyspace.JOBCTL}:metrics:{queue}"


def bucket_index(ms: float) -> int:
    for index, bound in enumerate(BUCKETS_MS):
        if ms <= bound:
            return index
    return len(BUCKETS_MS) - 1


def _keys(queue: str, at: float) -> list[str]:
    return [
        f"{_base(queue)}:m:{int(at // 60)}",
        f"{_base(queue)}:h:{int(at // 3600)}",
        f"{_base(queue)}:total",
    ]


TTLS = (MINUTE_TTL, HOUR_TTL)


def keys_at(queue: str, at: float) -> list[str]:
    """The minute, hour and total hashes an event of `queue` at `at` counts in."""
    return _keys(queue, at)


def job_increments(
    outcome: str,
    *,
    enqueued: float | None,
    started: float,
    ended: float,
    retried: bool = False,
    dead: bool = False,
) -> list[Any]:
    """The field/increment pairs one finished attempt adds (times in epoch seconds)."""
    pairs: list[Any] = [outcome, 1]
    if retried:
        pairs += ["retried", 1]
    if dead:
        pairs += ["dead", 1]
    processing = max(0.0, (ended - started) * 1000)
    pairs += ["proc_ms", round(processing), "proc_n", 1, f"p{bucket_index(processing)}", 1]
    if enqueued is not None:
        waiting = max(0.0, (started - enqueued) * 1000)
        pairs += ["wait_ms", round(waiting), "wait_n", 1, f"w{bucket_index(waiting)}", 1]
    return pairs


def record(pipe, queue: str, pairs: list[Any], at: float | None = None) -> None:
    """Queue the increments on `pipe` (one command); the caller's round trip carries it."""
    pipe.eval(_RECORD, 3, *_keys(queue, time.time() if at is None else at), MINUTE_TTL, HOUR_TTL, *pairs)


class Tally:
    """Increments of many finished attempts summed per (key, field), for one scripted write.

    A worker finishing a batch of jobs sends each counter once per batch instead of once per job.
    """

    def __init__(self):
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, queue: str, pairs: list[Any], at: float) -> None:
        keys_ = _keys(queue, at)
        for i in range(0, len(pairs), 2):
            field, increment = pairs[i], pairs[i + 1]
            for key in keys_:
                self.counts[(key, field)] = self.counts.get((key, field), 0) + increment

    def increments(self) -> list[list[Any]]:
        return [[key, field, n] for (key, field), n in self.counts.items()]

    def expires(self) -> list[list[Any]]:
        ttl = {"m": MINUTE_TTL, "h": HOUR_TTL}
        out = []
        for key in {key for key, _ in self.counts}:
            kind = key.rsplit(":", 2)[-2]
            if kind in ttl:
                out.append([key, ttl[kind]])
        return out


def record_enqueued(pipe, queue: str, count: int, at: float | None = None) -> None:
    record(pipe, queue, ["enqueued", count], at)


def _as_int(value: Any) -> int:
    return int(value.decode() if isinstance(value, bytes) else value)


def _merge(rows: Iterable[dict]) -> dict[str, int]:
    total: dict[str, int] = {}
    for row in rows:
        for field, value in row.items():
            name = field.decode() if isinstance(field, bytes) else field
            total[name] = total.get(name, 0) + _as_int(value)
    return total


def percentile(counts: dict[str, int], prefix: str, q: float) -> float | None:
    """The upper bound (ms) of the histogram bucket holding the q-th quantile; None without data."""
    histogram = [counts.get(f"{prefix}{i}", 0) for i in range(len(BUCKETS_MS))]
    n = sum(histogram)
    if not n:
        return None
    rank, seen = math.ceil(q * n), 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            bound = BUCKETS_MS[index]
            return None if math.isinf(bound) else float(bound)
    return None


def summarize(counts: dict[str, int], seconds: float) -> dict[str, Any]:
    finished = counts.get("completed", 0) + counts.get("failed", 0)
    return {
        **{name: counts.get(name, 0) for name in OUTCOMES},
        "throughput_per_minute": round(counts.get("completed", 0) / (seconds / 60), 2) if seconds else 0.0,
        "error_rate": round(counts.get("failed", 0) / finished, 4) if finished else 0.0,
        "processing_ms": {
            "avg": round(counts["proc_ms"] / counts["proc_n"], 1) if counts.get("proc_n") else None,
            **{f"p{int(q * 100)}": percentile(counts, "p", q) for q in (0.5, 0.95, 0.99)},
        },
        "wait_ms": {
            "avg": round(counts["wait_ms"] / counts["wait_n"], 1) if counts.get("wait_n") else None,
            **{f"p{int(q * 100)}": percentile(counts, "w", q) for q in (0.5, 0.95, 0.99)},
        },
    }


def _bucket_keys(queue: str, seconds: float, now: float) -> list[str]:
    if seconds <= 24 * 3600:
        last = int(now // 60)
        return [f"{_base(queue)}:m:{m}" for m in range(last - math.ceil(seconds / 60) + 1, last + 1)]
    last = int(now // 3600)
    return [f"{_base(queue)}:h:{h}" for h in range(last - math.ceil(seconds / 3600) + 1, last + 1)]


def window_stats(
    connection: redis.Redis, queues: Iterable[str], seconds: float, now: float | None = None
) -> dict[str, dict[str, Any]]:
    """Per queue: outcome counts, throughput, error rate and time percentiles over the last `seconds`.

    Minute buckets up to a day, hourly ones beyond (to 30 days): one HGETALL per bucket, pipelined.
    """
    now = time.time() if now is None else now
    seconds = min(max(60.0, float(seconds)), MAX_WINDOW)
    names = list(queues)
    plan = [(name, _bucket_keys(name, seconds, now)) for name in names]
    with connection.pipeline(transaction=False) as pipe:
        for _, bucket_keys in plan:
            for key in bucket_keys:
                pipe.hgetall(key)
        replies = iter(pipe.execute())
    return {
        name: summarize(_merge(next(replies) for _ in bucket_keys), seconds) for name, bucket_keys in plan
    }


def recent_series(
    connection: redis.Redis, queue: str, minutes: int = 30, now: float | None = None
) -> dict[str, list[int]]:
    """completed and failed per minute for the last `minutes` minutes, oldest first (sparklines)."""
    now = time.time() if now is None else now
    last = int(now // 60)
    with connection.pipeline(transaction=False) as pipe:
        for minute in range(last - minutes + 1, last + 1):
            pipe.hmget(f"{_base(queue)}:m:{minute}", "completed", "failed")
        rows = pipe.execute()
    return {"completed": [_as_int(c or 0) for c, _ in rows], "failed": [_as_int(f or 0) for _, f in rows]}


def totals(connection: redis.Redis, queues: Iterable[str]) -> dict[str, dict[str, int]]:
    """All-time counters and histograms per queue (for Prometheus)."""
    names = list(queues)
    with connection.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(f"{_base(name)}:total")
        return {name: _merge([row]) for name, row in zip(names, pipe.execute())}
