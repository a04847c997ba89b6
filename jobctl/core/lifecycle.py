"""The job lifecycle as server-side scripts: every state change of a job is one atomic step.

A job is always in exactly one place Redis can see: its queue list, its queue's wip (started)
registry under a lease, the scheduled registry, the finished/failed registry, or the dead-letter
store. There is no instant in which it is held only in a worker's memory:

* `claim` moves ids from the first non-empty priority list straight into `rq:wip:<queue>` as
  `<job id>:<claim token>`, scored by the lease deadline, and marks the hash started - in the same
  script that records the previous batch's outcomes (`finish`), so a busy worker spends one round
  trip per batch.
* `finish` records success (finished registry, result, TTL), a transient failure (scheduled registry
  or back on the queue), a dead letter (entry + indexes, job kept) or a stop, with the attempt
  (meta), worker counters, metrics and retention trimming. It only acts on claims the worker still
  holds: a claim that expired and was reclaimed elsewhere is left alone.
* `reclaim` takes expired leases back - no lock, each entry is removed with ZREM by whoever gets it
  first - and requeues the job at the front (its crash was an attempt) or fails it when no attempt
  is left, for the dead-letter queue.
* `promote` moves due scheduled jobs (delays, retries) onto their queues.

The keys, fields and registries are RQ's own (`rq info`, `rq worker`, rq-dashboard see the same
jobs). Workers block on a per-queue wake-up sorted set (`<prefix>:jobctl:wake:<queue>`, one member),
never on the job lists: enqueue and every script that makes a job runnable add the member.

Arguments travel as one JSON document (Redis' Lua has cjson); every value jobctl stores in a hash is
text (JSON or a Fernet token), so nothing binary has to cross.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from rq.defaults import RQ_KEY_PREFIX as p

from jobctl.core import keyspace
from jobctl.core.dlq_groups import GROUP_FUNCTIONS
from jobctl.core.retention import TRIM_FUNCTION

# Shared by finish+claim: records outcomes, then claims the next batch.
_FINISH_AND_CLAIM = (
    TRIM_FUNCTION
    + GROUP_FUNCTIONS
    + r"""
local doc = cjson.decode(ARGV[1])
local now = doc.now
local prefix = doc.job_prefix
local lost = 0

for _, r in ipairs(doc.finish) do
  if redis.call('ZREM', r.wip, r.member) == 1 then
    local jk = prefix .. r.id
    redis.call('HSET', jk, unpack(r.fields))
    if r.kind == 'done' then
      if r.ttl == 0 then
        redis.call('DEL', jk)
      else
        redis.call('ZADD', r.registry, r.score, r.id)
        if r.ttl > 0 then redis.call('EXPIRE', jk, r.ttl) else redis.call('PERSIST', jk) end
      end
    elseif r.kind == 'retry' then
      if r.due then
        redis.call('ZADD', r.scheduled, r.due, r.id)
      else
        redis.call('RPUSH', r.queue, r.id)
        redis.call('ZADD', r.marker, 0, 'w')
      end
    elseif r.kind == 'dead' then
      redis.call('PERSIST', jk)
      redis.call('SET', r.dlq_entry, r.dlq_doc)
      redis.call('ZADD', r.dlq_index, r.died, r.id)
      redis.call('ZADD', r.dlq_queue_index, r.died, r.id)
      local g = r.dlq_group
      dlq_group(g.prefix, r.dlq_index, r.id, g.gid, g.queue, g.type)
    else -- stopped: RQ's failed registry, kept for failure_ttl
      redis.call('ZADD', r.registry, r.score, r.id)
      if r.ttl > 0 then redis.call('EXPIRE', jk, r.ttl) end
    end
    if r.result then
      local rk = doc.results_prefix .. r.id
      redis.call('XADD', rk, 'MAXLEN', '~', 10, '*', unpack(r.result))
      if r.result_ttl > 0 then redis.call('EXPIRE', rk, r.result_ttl) else redis.call('PERSIST', rk) end
    end
  else
    lost = lost + 1
  end
end
for _, m in ipairs(doc.incr) do redis.call('HINCRBY', m[1], m[2], m[3]) end
for _, e in ipairs(doc.expire) do redis.call('EXPIRE', e[1], e[2]) end
for _, t in ipairs(doc.trim) do trim(t[1], t[2], prefix, doc.results_prefix) end

local out = {lost}
local c = doc.claim
if not c or c.n <= 0 then return out end
local claimed = 0
local members = {}
for _, q in ipairs(c.queues) do
  if claimed >= c.n then break end
  local ids = redis.call('LPOP', q[1], c.n - claimed)
  if ids then
    local wip_members = {}
    for _, id in ipairs(ids) do
      local jk = prefix .. id
      local h = redis.call('HGETALL', jk)
      local status
      for i = 1, #h, 2 do
        if h[i] == 'status' then status = h[i + 1] break end
      end
      -- an id whose job is gone or already ended is dropped, as RQ's dequeue does
      if status and status ~= 'canceled' and status ~= 'finished' and status ~= 'failed' then
        local member = id .. ':' .. c.token
        redis.call('HSET', jk, 'status', 'started', 'started_at', doc.now_iso, 'worker_name', c.worker,
                   'last_heartbeat', doc.now_iso)
        wip_members[#wip_members + 1] = c.lease
        wip_members[#wip_members + 1] = member
        out[#out + 1] = q[2]
        out[#out + 1] = member
        out[#out + 1] = h
        claimed = claimed + 1
      end
    end
    if #wip_members > 0 then redis.call('ZADD', q[2], unpack(wip_members)) end
    -- more left here: wake another idle worker
    if redis.call('LLEN', q[1]) > 0 then redis.call('ZADD', q[3], 0, 'w') end
  end
end
if claimed > 0 then
  redis.call('HSET', c.worker_key, 'current_job', string.match(out[3], '^[^:]+'), 'state', 'busy')
end
return out
"""
)

# Expired leases back to the queue (front) or, with no attempt left, to RQ's failed registry for the
# dead-letter queue. Also drops expired entries from the finished/failed registries (RQ's cleanup).
_RECLAIM = r"""
local doc = cjson.decode(ARGV[1])
local now = doc.now
local requeued, failed = 0, {}
for _, q in ipairs(doc.queues) do
  local wip, queue, failed_reg, marker, finished_reg = q[1], q[2], q[3], q[4], q[5]
  redis.call('ZREMRANGEBYSCORE', finished_reg, '-inf', now)
  local expired = redis.call('ZRANGEBYSCORE', wip, '-inf', now, 'LIMIT', 0, doc.max)
  for _, member in ipairs(expired) do
    if redis.call('ZREM', wip, member) == 1 then
      local id = string.match(member, '^[^:]+')
      local jk = doc.job_prefix .. id
      local f = redis.call('HMGET', jk, 'status', 'retries_left', 'worker_name', 'started_at',
                           'jobctl_abandoned', 'failure_ttl')
      if f[1] == 'started' then
        local gone = cjson.decode(f[5] or '[]')
        gone[#gone + 1] = {worker = f[3] or '', started_at = f[4] or '', detected_at = doc.now_iso}
        local left = tonumber(f[2])
        if left and left > 0 then
          redis.call('HSET', jk, 'status', 'queued', 'retries_left', left - 1,
                     'jobctl_abandoned', cjson.encode(gone))
          redis.call('LPUSH', queue, id)
          redis.call('ZADD', marker, 0, 'w')
          requeued = requeued + 1
        else
          local ttl = tonumber(f[6]) or 31536000
          redis.call('HSET', jk, 'status', 'failed', 'ended_at', doc.now_iso,
                     'jobctl_abandoned', cjson.encode(gone))
          redis.call('ZADD', failed_reg, now + ttl, id)
          failed[#failed + 1] = id
        end
      end
    end
  end
end
return {requeued, failed}
"""

# Due scheduled jobs (delays, retries) onto their queues.
_PROMOTE = r"""
local doc = cjson.decode(ARGV[1])
local moved = 0
for _, q in ipairs(doc.queues) do
  local sched, queue, marker = q[1], q[2], q[3]
  local due = redis.call('ZRANGEBYSCORE', sched, '-inf', doc.now, 'LIMIT', 0, doc.max)
  for _, id in ipairs(due) do
    redis.call('ZREM', sched, id)
    local jk = doc.job_prefix .. id
    local status = redis.call('HGET', jk, 'status')
    if status and status ~= 'canceled' then
      redis.call('HSET', jk, 'status', 'queued', 'enqueued_at', doc.now_iso)
      redis.call('RPUSH', queue, id)
      moved = moved + 1
    end
  end
  if #due > 0 then redis.call('ZADD', marker, 0, 'w') end
end
return moved
"""

# Claimed but never started (shutdown, a job this worker cannot decrypt): back to the queue front.
_RELEASE = r"""
local doc = cjson.decode(ARGV[1])
local released = 0
for i = #doc.jobs, 1, -1 do
  local j = doc.jobs[i]
  if redis.call('ZREM', j.wip, j.member) == 1 then
    redis.call('HSET', doc.job_prefix .. j.id, 'status', 'queued')
    redis.call('LPUSH', j.queue, j.id)
    redis.call('ZADD', j.marker, 0, 'w')
    released = released + 1
  end
end
return released
"""


# Enqueue: the job hashes, their ids on the queue, the enqueued counters and the wake-up, atomically.
# ARGV: queue key, queues-set key, marker, minute/hour/total metric keys, minute ttl, hour ttl, job
# count, the batch's time (created_at = enqueued_at: the batch becomes visible at once), the fields
# every job shares as one JSON array [k, v, ...], the scheduled registry and the due time (both ''
# to queue now; else the jobs wait there, without enqueued_at, until the scheduler moves them),
# '1' when the jobs have retry intervals, the audit stream ('' for none), its MAXLEN (~) and the
# count of the entry's field/value items, those items, then per job: job key, data (binary), retry
# intervals. The audit entry goes in with the jobs: an enqueue is never recorded without its jobs
# queued, nor queued without its record.
# One field table is built once and only its per-job slots change: the loop is the Redis time of
# every job of a bulk call.
_PUSH = r"""
local queue, queues_set, marker = ARGV[1], ARGV[2], ARGV[3]
local n, stamp = tonumber(ARGV[9]), ARGV[10]
local shared = cjson.decode(ARGV[11])
local scheduled, due, retrying = ARGV[12], ARGV[13], ARGV[14] == '1'
local stream, maxlen, nitems = ARGV[15], ARGV[16], tonumber(ARGV[17])
local fields = {'data', '', 'created_at', stamp}
if scheduled == '' then fields[5], fields[6] = 'enqueued_at', stamp end
local slot = 0
if retrying then
  slot = #fields + 2
  fields[slot - 1], fields[slot] = 'retry_intervals', ''
end
for i = 1, #shared do fields[#fields + 1] = shared[i] end
local skip = #KEYS[1] + 1
local ids = {}
local pos = 18 + nitems
for j = 1, n do
  fields[2] = ARGV[pos + 1]
  if retrying then fields[slot] = ARGV[pos + 2] end
  redis.call('HSET', ARGV[pos], unpack(fields))
  ids[j] = string.sub(ARGV[pos], skip)
  pos = pos + 3
end
if scheduled == '' then
  for i = 1, #ids, 5000 do redis.call('RPUSH', queue, unpack(ids, i, math.min(i + 4999, #ids))) end
  redis.call('ZADD', marker, 0, 'w')
else
  for i = 1, #ids, 2500 do
    local members = {}
    for k = i, math.min(i + 2499, #ids) do members[#members + 1] = due; members[#members + 1] = ids[k] end
    redis.call('ZADD', scheduled, unpack(members))
  end
end
redis.call('SADD', queues_set, queue)
for k = 4, 6 do redis.call('HINCRBY', ARGV[k], 'enqueued', n) end
redis.call('EXPIRE', ARGV[4], ARGV[7])
redis.call('EXPIRE', ARGV[5], ARGV[8])
if stream ~= '' then
  return redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', unpack(ARGV, 18, 17 + nitems))
end
return n
"""
_push_script = None


def shared_json(shared: dict) -> str:
    """The fields every job of a push shares, as the script reads them: one JSON array [k, v, ...]."""
    return json.dumps([x for pair in shared.items() for x in pair], separators=(",", ":"))


def push_rows(
    connection: redis.Redis,
    queue: PhysicalQueue,
    common: str,
    count: int,
    rows: list,
    metric_keys: Sequence[str],
    metric_ttls: Sequence[int],
    due: float | None = None,
    retrying: bool = False,
    audit: tuple[str, int, list] | None = None,
) -> Any:
    """Store `count` jobs and queue them in one atomic call. `common`: the fields they share (see
    shared_json; retries_left goes there); `rows`: three arguments a job, its key, its data and its
    retry intervals (JSON, or '' when not `retrying`). With `due` (epoch seconds) the jobs wait in the
    queue's scheduled registry until then. `audit` (stream key, MAXLEN, flat field/value items)
    appends that entry in the same step; the call then returns its stream id, else the count."""
    global _push_script
    if _push_script is None:
        _push_script = connection.register_script(_PUSH)
    args: list = [
        queue.queue,
        f"{p}:queues",
        queue.marker,
        *metric_keys,
        *metric_ttls,
        count,
        utc_iso(time.time()),
        common,
        "" if due is None else queue.scheduled,
        "" if due is None else due,
        "1" if retrying else "",
        *(audit[:2] if audit else ("", 0)),
        len(audit[2]) if audit else 0,
        *(audit[2] if audit else ()),
        *rows,
    ]
    return _push_script(keys=[keyspace.job_key_prefix()], args=args, client=connection)


def wake_key(queue: str) -> str:
    """The wake-up sorted set of a catalogue queue (one member while there may be work)."""
    return f"{keyspace.JOBCTL}:wake:{queue}"


def utc_iso(ts: float) -> str:
    """RQ's timestamp format (utcformat) for an epoch time."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1_000_000):06d}Z"


@dataclass(frozen=True)
class PhysicalQueue:
    """The keys of one physical (queue:priority) RQ queue."""

    name: str
    catalogue: str
    queue: str
    wip: str
    scheduled: str
    finished: str
    failed: str
    marker: str

    @classmethod
    def of(cls, physical: str) -> PhysicalQueue:
        catalogue = physical.rsplit(":", 1)[0]
        return cls(
            physical,
            catalogue,
            f"{p}:queue:{physical}",
            f"{p}:wip:{physical}",
            f"{p}:scheduled:{physical}",
            f"{p}:finished:{physical}",
            f"{p}:failed:{physical}",
            wake_key(catalogue),
        )


@dataclass
class Claimed:
    queue: PhysicalQueue
    member: str  # "<job id>:<claim token>", the wip entry
    fields: dict  # the job hash, as HGETALL returned it (bytes)

    @property
    def job_id(self) -> str:
        return self.member.split(":", 1)[0]


class Lifecycle:
    """The scripts, bound to one connection; each call is one round trip."""

    def __init__(self, connection: redis.Redis):
        self.connection = connection
        self._finish_and_claim = connection.register_script(_FINISH_AND_CLAIM)
        self._reclaim = connection.register_script(_RECLAIM)
        self._promote = connection.register_script(_PROMOTE)
        self._release = connection.register_script(_RELEASE)
        self.job_prefix = keyspace.job_key_prefix()
        self.results_prefix = keyspace.results_key_prefix()

    def finish_and_claim(
        self,
        finished: Sequence[dict],
        *,
        increments: Sequence = (),
        expires: Sequence = (),
        trims: Sequence = (),
        queues: Sequence[PhysicalQueue] = (),
        n: int = 0,
        worker: str = "",
        worker_key: str = "",
        token: str = "",
        lease: float = 0.0,
    ) -> tuple[int, list[Claimed]]:
        """Record `finished` outcomes, then claim up to `n` jobs; returns (claims found lost, claimed)."""
        now = time.time()
        doc = {
            "now": now,
            "now_iso": utc_iso(now),
            "job_prefix": self.job_prefix,
            "results_prefix": self.results_prefix,
            "finish": list(finished),
            "incr": list(increments),
            "expire": list(expires),
            "trim": list(trims),
        }
        by_wip = {q.wip: q for q in queues}
        if n > 0 and queues:
            doc["claim"] = {
                "n": n,
                "token": token,
                "lease": now + lease,
                "worker": worker,
                "worker_key": worker_key,
                "queues": [[q.queue, q.wip, q.marker] for q in queues],
            }
        out = self._finish_and_claim(args=[json.dumps(doc, separators=(",", ":"))])
        claimed = []
        for i in range(1, len(out), 3):
            wip, member, flat = out[i].decode(), out[i + 1].decode(), out[i + 2]
            fields = {flat[k]: flat[k + 1] for k in range(0, len(flat), 2)}
            claimed.append(Claimed(by_wip[wip], member, fields))
        return int(out[0]), claimed

    def _sweep_doc(self, limit: int, queues: list[list[str]]) -> str:
        """The argument of reclaim and promote: now, the job prefix, a limit per queue, the keys."""
        now = time.time()
        return json.dumps(
            {
                "now": now,
                "now_iso": utc_iso(now),
                "job_prefix": self.job_prefix,
                "max": limit,
                "queues": queues,
            }
        )

    def reclaim(self, queues: Iterable[PhysicalQueue], limit: int = 500) -> tuple[int, list[str]]:
        """Expired leases: (jobs requeued, ids failed for the dead-letter queue)."""
        doc = self._sweep_doc(limit, [[q.wip, q.queue, q.failed, q.marker, q.finished] for q in queues])
        requeued, failed = self._reclaim(args=[doc])
        return int(requeued), [i.decode() for i in failed]

    def promote(self, queues: Iterable[PhysicalQueue], limit: int = 1000) -> int:
        """Due scheduled jobs onto their queues; returns how many moved."""
        doc = self._sweep_doc(limit, [[q.scheduled, q.queue, q.marker] for q in queues])
        return int(self._promote(args=[doc]))

    def release(self, claims: Iterable[Claimed]) -> int:
        jobs = [
            {
                "id": c.job_id,
                "member": c.member,
                "wip": c.queue.wip,
                "queue": c.queue.queue,
                "marker": c.queue.marker,
            }
            for c in claims
        ]
        if not jobs:
            return 0
        return int(self._release(args=[json.dumps({"job_prefix": self.job_prefix, "jobs": jobs})]))

    def renew(self, pipe, held: Iterable[Claimed], lease: float) -> None:
        """Queue (on `pipe`) the lease renewal of every claim held: ZADD XX, one call per registry."""
        by_wip: dict[str, dict[str, float]] = {}
        deadline = time.time() + lease
        for c in held:
            by_wip.setdefault(c.queue.wip, {})[c.member] = deadline
        for wip, members in by_wip.items():
            pipe.zadd(wip, members, xx=True)
