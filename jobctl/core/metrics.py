"""Job metrics in Redis with bounded memory: per-minute buckets for a day, hourly ones for 30 days.

Per queue, three hashes take the same increments:

    {prefix}:jobctl:metrics:<queue>:m:<unix minute>   expires after 25 h
    {prefix}:jobctl:metrics:<queue>:h:<unix hour>     expires after 31 d
    {prefix}:jobctl:metrics:<queue>:total             kept (Prometheus counters must not go back)

Fields: the outcomes `completed`, `failed` (every failed attempt), `retried` (failed attempts that
will run again), `dead` (dead-lettered) and `enqueued`; `proc_ms`/`wait_ms` sums and `proc_n`/`wait_n`
counts; histogram counts `p<i>`/`w<i>` over BUCKETS_MS for processing time (start to end) and wait
time (enqueued to start), from 5 ms to 24 h and one bucket beyond. A worker records a job with one
script call added to the pipelined round trip it already makes after each job; reading a window
costs one HGETALL per bucket, whatever the queue lengths.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

import redis

from jobctl.core import keyspace
from jobctl.durations import format_seconds

# Histogram bucket bounds (ms) in order, each with the number of its field (`p<n>`, `w<n>`). Numbers
# 0-14 are the first release's (14 was "over 5 min"); the bounds added to reach 24 h took new
# numbers, so counters written before an upgrade keep their meaning and Prometheus' cumulative
# buckets never go back. A count in the last bucket is shown as "over 24 h", never as no data.
_BUCKETS = (
    *((bound, n) for n, bound in enumerate((5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000))),
    (60_000, 12),
    (300_000, 13),
    (900_000, 15),
    (1_800_000, 16),
    (3_600_000, 17),
    (7_200_000, 18),
    (14_400_000, 19),
    (43_200_000, 20),
    (86_400_000, 21),
    (math.inf, 14),
)
BUCKETS_MS = tuple(bound for bound, _ in _BUCKETS)
TOP_BOUND_MS = BUCKETS_MS[-2]
QUANTILES = (0.5, 0.95, 0.99)
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
    """The position in BUCKETS_MS of the bucket holding `ms`."""
    for index, bound in enumerate(BUCKETS_MS):
        if ms <= bound:
            return index
    return len(BUCKETS_MS) - 1


def bucket_field(prefix: str, index: int) -> str:
    """The hash field counting the bucket at position `index` of BUCKETS_MS."""
    return f"{prefix}{_BUCKETS[index][1]}"


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
    pairs += ["proc_ms", round(processing), "proc_n", 1, bucket_field("p", bucket_index(processing)), 1]
    if enqueued is not None:
        waiting = max(0.0, (started - enqueued) * 1000)
        pairs += ["wait_ms", round(waiting), "wait_n", 1, bucket_field("w", bucket_index(waiting)), 1]
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


def histogram(counts: dict[str, int], prefix: str) -> list[int]:
    """Counts per bucket, in the order of BUCKETS_MS."""
    return [counts.get(bucket_field(prefix, index), 0) for index in range(len(BUCKETS_MS))]


def percentile(counts: dict[str, int], prefix: str, q: float) -> float | None:
    """The upper bound (ms) of the histogram bucket holding the q-th quantile; None without data.

    A quantile in the last bucket (over TOP_BOUND_MS) gives TOP_BOUND_MS, a lower bound:
    `summarize` says so in `beyond_top`, and `quantile_text` shows it as ">24h".
    """
    buckets = histogram(counts, prefix)
    n = sum(buckets)
    if not n:
        return None
    rank, seen = math.ceil(q * n), 0
    for index, count in enumerate(buckets):
        seen += count
        if seen >= rank:
            return float(min(BUCKETS_MS[index], TOP_BOUND_MS))
    return float(TOP_BOUND_MS)


def _times(counts: dict[str, int], prefix: str, sum_field: str, n_field: str) -> dict[str, Any]:
    buckets = histogram(counts, prefix)
    beyond = buckets[-1]
    times: dict[str, Any] = {
        "avg": round(counts[sum_field] / counts[n_field], 1) if counts.get(n_field) else None,
        **{f"p{int(q * 100)}": percentile(counts, prefix, q) for q in QUANTILES},
    }
    n = sum(buckets)
    # the quantiles whose true value lies past the top bucket: their figure is a lower bound
    times["beyond_top"] = [f"p{int(q * 100)}" for q in QUANTILES if n and math.ceil(q * n) > n - beyond]
    return times


def quantile_text(times: dict[str, Any], name: str) -> str:
    """A quantile of `summarize`'s processing_ms/wait_ms for people: "-", "250ms", "2.5s", "15m", ">24h"."""
    value = times.get(name)
    if value is None:
        return "-"
    if name in times.get("beyond_top", ()):
        return ">" + format_seconds(value / 1000)
    return f"{value:g}ms" if value < 1000 else format_seconds(value / 1000)


def summarize(counts: dict[str, int], seconds: float) -> dict[str, Any]:
    finished = counts.get("completed", 0) + counts.get("failed", 0)
    return {
        **{name: counts.get(name, 0) for name in OUTCOMES},
        "throughput_per_minute": round(counts.get("completed", 0) / (seconds / 60), 2) if seconds else 0.0,
        "error_rate": round(counts.get("failed", 0) / finished, 4) if finished else 0.0,
        "processing_ms": _times(counts, "p", "proc_ms", "proc_n"),
        "wait_ms": _times(counts, "w", "wait_ms", "wait_n"),
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


def bucket_window(
    connection: redis.Redis, queues: Iterable[str], unit: str, count: int, now: float | None = None
) -> dict[str, dict[str, Any]]:
    """Per queue, over its last `count` buckets of `unit` ("m": minutes, "h": hours), the current one
    included: `summarize`'s figures for the whole span and the `completed`/`failed` counts of each
    bucket, oldest first (the web overview's charts and their headline figures, from one read).
    One HGETALL per bucket, pipelined: 60 minutes or 24 hours cost the same whatever the queue lengths.
    The hourly span covers between count - 1 and count hours (the current hour is partial)."""
    if unit not in ("m", "h"):
        raise ValueError(f"unit must be 'm' or 'h', not {unit!r}")
    now = time.time() if now is None else now
    size = 60 if unit == "m" else 3600
    last = int(now // size)
    names = list(queues)
    with connection.pipeline(transaction=False) as pipe:
        for name in names:
            for index in range(last - count + 1, last + 1):
                pipe.hgetall(f"{_base(name)}:{unit}:{index}")
        replies = iter(pipe.execute())
    result: dict[str, dict[str, Any]] = {}
    for name in names:
        rows = [_merge([next(replies)]) for _ in range(count)]
        result[name] = {
            **summarize(_merge(rows), count * size),
            "series": {
                "completed": [row.get("completed", 0) for row in rows],
                "failed": [row.get("failed", 0) for row in rows],
            },
        }
    return result
