"""Operator actions on jobs and queues: clear, delete, retry, cancel, pause and resume.

Bulk removal never walks a queue with LREM (O(n) per job, so O(n^2) for a queue): `clear_queue`
claims a whole list or registry with one atomic RENAME (recorded in a claims set, so an interrupted
clear is finished by the next one), then drains the claimed copy in atomic Lua steps of BATCH ids,
deleting each job's data the way RQ's `Job.delete` does and reporting progress between steps. Jobs
enqueued (or failing, or finishing) while a clear runs land in a fresh key and are left alone.
Running jobs are never removed, and neither is anything on the dead-letter queue (`jobctl dlq purge`
owns that).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.executions import ExecutionRegistry
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.results import Result

from jobctl.config import Settings
from jobctl.core import audit, dlq, keyspace, payloads
from jobctl.core.browse import JOB_ID, fetch_job
from jobctl.core.catalog import (
    DEAD_LETTER,
    PRIORITIES,
    QueuePolicy,
    check_priority,
    get_policy,
    queue_catalog,
    split_physical,
)
from jobctl.core.connection import decoded
from jobctl.core.enqueue import retry_for
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.progress import Progress, ignore
from jobctl.core.stats import queue_key, registry_key
from jobctl.errors import JobctlError, UsageError

CLEAR_STATES: tuple[str, ...] = ("waiting", "scheduled", "failed", "completed")
BATCH = 2_000  # ids per atomic clear step: ~15 ms of server time, and a progress report after each
ACTIVE_NOTE = "active (running) jobs are never cleared; stop one with `jobctl job cancel ID`"
CANCELABLE = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


# --- helpers -------------------------------------------------------------------------------------


def job_data_keys(job_id: str) -> list[str]:
    """Every key `Job.delete` removes for a job that is not running: hash, dependents,
    dependencies, results stream, executions index."""
    return [
        Job.key_for(job_id),
        Job.dependents_key_for(job_id),
        f"{Job.redis_job_namespace_prefix}:{job_id}:dependencies",  # sic: RQ's own key name
        Result.get_key(job_id),
        ExecutionRegistry.key_template.format(job_id),
    ]


def _status(job: Job) -> str:
    status = job.get_status(refresh=False)
    return getattr(status, "value", status) or "unknown"


def _check_ids(job_ids: Iterable[str]) -> list[str]:
    ids = list(dict.fromkeys(job_ids))  # keeps order, drops repeats
    if not ids:
        raise UsageError("no job ids given", "pass one or more job ids")
    bad = [i for i in ids if not JOB_ID.match(i)]
    if bad:
        raise UsageError(f"invalid job id {bad[0]!r}", "job ids are letters, digits, '_' and '-'")
    return ids


def _fetch_many(connection: redis.Redis, ids: list[str]) -> list[Job | None]:
    return Job.fetch_many(ids, connection=connection, serializer=PayloadSerializer)


def _dead_lettered(connection: redis.Redis, ids: list[str]) -> set[str]:
    """Those of `ids` that are dead-letter entries right now."""
    if not ids:
        return set()
    with connection.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.zscore(keyspace.dlq_index(), job_id)
        scores = pipe.execute()
    return {job_id for job_id, score in zip(ids, scores, strict=True) if score is not None}


def _queue_policy(settings: Settings, queue: str) -> QueuePolicy:
    policy = get_policy(queue_catalog(settings), queue)
    if policy.is_dead_letter:
        raise UsageError(
            "the dead-letter queue is not cleared or paused here",
            "delete dead jobs with `jobctl dlq purge` (see `jobctl dlq list`)",
        )
    return policy


# --- clear ---------------------------------------------------------------------------------------


def _source_key(state: str, physical: str) -> str:
    return queue_key(physical) if state == "waiting" else registry_key(state, physical)


def _claims_key(source: str) -> str:
    """Set of the claimed copies of `source` not yet drained: a clear that was interrupted (killed,
    Ctrl-C, a lost connection) left them, and the next clear of that source finishes them."""
    return f"{keyspace.JOBCTL}:clearing:of:{source}"


# KEYS[1] the source list or registry, KEYS[2] its claimed copy, KEYS[3] the source's claims set.
# Moves the source whole and records the copy in one step, so no moment leaves jobs in a key that
# nothing points at. Returns 0 when the source is empty.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('SADD', KEYS[3], KEYS[2])
return 1
"""

# KEYS[1] a claimed copy, KEYS[2] its claims set, KEYS[3] the dead-letter index. ARGV[1] how many
# ids, ARGV[2] '1' for a list ('0': a sorted set), then (prefix, suffix) pairs around a job id that
# make its data keys (job_data_keys). Takes up to ARGV[1] ids off the copy and deletes each one's
# data, except a dead-lettered job's (its stray entry goes, its data stays), all as one atomic
# step: a job is either still listed with all its data or gone with all of it, whatever happens
# between two steps. Drops the copy from the claims set once it is empty.
# Server time goes to building key names and to commands (each write call is also one AOF record),
# so the step works CHUNK ids at a time: one ZMSCORE for the dead-letter check, one UNLINK for the
# job hashes, and for the other four keys (which a plain waiting job does not have) one EXISTS,
# with an UNLINK only when some exist. CHUNK keeps unpack() under Lua's C stack limit (8,000).
# Returns {deleted, kept because dead-lettered}.
_DRAIN_STEP = """
local CHUNK = 1000
local n = tonumber(ARGV[1])
local ids
if ARGV[2] == '1' then
  ids = redis.call('LRANGE', KEYS[1], 0, n - 1)
  redis.call('LTRIM', KEYS[1], n, -1)
else
  ids = redis.call('ZRANGE', KEYS[1], 0, n - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1)
end
local affix = {}
for j = 3, #ARGV do affix[j - 2] = ARGV[j] end
local hash_prefix, hash_suffix, naffix = affix[1], affix[2], #affix
local deleted, kept = 0, 0
for first = 1, #ids, CHUNK do
  local last = math.min(first + CHUNK - 1, #ids)
  local dead = redis.call('ZMSCORE', KEYS[3], unpack(ids, first, last))
  local hashes, h, others, o = {}, 0, {}, 0
  for i = first, last do
    if dead[i - first + 1] then
      kept = kept + 1
    else
      local id = ids[i]
      h = h + 1
      hashes[h] = hash_prefix .. id .. hash_suffix
      for j = 3, naffix, 2 do
        o = o + 1
        others[o] = affix[j] .. id .. affix[j + 1]
      end
    end
  end
  if h > 0 then redis.call('UNLINK', unpack(hashes, 1, h)) end
  for f = 1, o, CHUNK do
    local l = math.min(f + CHUNK - 1, o)
    if redis.call('EXISTS', unpack(others, f, l)) > 0 then redis.call('UNLINK', unpack(others, f, l)) end
  end
  deleted = deleted + h
end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], KEYS[1]) end
return {deleted, kept}
"""

_ID_MARK = "\x00id\x00"


def _data_key_affixes() -> list[str]:
    """job_data_keys as (prefix, suffix) pairs around the id, flat, for _DRAIN_STEP, the job hash's
    first (read each time: the key prefix can change, as it does between test runs)."""
    return [part for key in job_data_keys(_ID_MARK) for part in key.split(_ID_MARK, 1)]


def _decoded_all(raw: Iterable[Any]) -> list[str]:
    return [r.decode() if isinstance(r, bytes) else r for r in raw]


@dataclass(frozen=True)
class _Claimed:
    state: str
    source: str  # the list or registry it was claimed from
    key: str  # the claimed copy
    size: int  # ids in it when claimed


def _claim_all(connection: redis.Redis, sources: list[tuple[str, str]]) -> list[_Claimed]:
    """Every source's jobs, each claimed now, plus the copies an interrupted clear left. Jobs that
    land in a source from now on are not claimed."""
    claim = connection.register_script(_CLAIM)
    claimed: list[tuple[str, str, str]] = []
    for state, source in sources:
        leftovers = _decoded_all(connection.smembers(_claims_key(source)))
        fresh = f"{keyspace.JOBCTL}:clearing:{uuid.uuid4().hex}"
        taken = [fresh] if claim(keys=[source, fresh, _claims_key(source)]) else []
        claimed += [(state, source, key) for key in [*sorted(leftovers), *taken]]
    sizes = _sizes(connection, [(state, key) for state, _, key in claimed])
    return [_Claimed(*c, n) for c, n in zip(claimed, sizes, strict=True)]


def _sizes(connection: redis.Redis, keys: list[tuple[str, str]]) -> list[int]:
    """LLEN of waiting lists, ZCARD of registries, in one round trip."""
    with connection.pipeline(transaction=False) as pipe:
        for state, key in keys:
            (pipe.llen if state == "waiting" else pipe.zcard)(key)
        return [int(n) for n in pipe.execute()]


def _drain(
    connection: redis.Redis, claimed: list[_Claimed], on_progress: Progress
) -> tuple[dict[str, int], int]:
    """Delete the data of every job in the claimed copies, BATCH ids per atomic step, reporting
    before the first step and after each. Returns (deleted per state, kept because dead-lettered)."""
    step = connection.register_script(_DRAIN_STEP)
    affixes = _data_key_affixes()
    total = sum(c.size for c in claimed)
    deleted: dict[str, int] = {}
    kept = done = 0
    on_progress(0, total, f"clearing {claimed[0].state}" if claimed else "clearing")
    for c in claimed:
        deleted.setdefault(c.state, 0)
        while True:
            removed, protected = step(
                keys=[c.key, _claims_key(c.source), keyspace.dlq_index()],
                args=[BATCH, "1" if c.state == "waiting" else "0", *affixes],
            )
            if not removed and not protected:
                break
            deleted[c.state] += int(removed)
            kept += int(protected)
            done = min(total, done + int(removed) + int(protected))  # another clear may share a leftover
            on_progress(done, total, f"clearing {c.state}")
    return deleted, kept


def clear_queue(
    connection: redis.Redis,
    settings: Settings,
    queue: str,
    state: str = "waiting",
    priority: str | None = None,
    dry_run: bool = False,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Remove a queue's jobs in one state (or all four) and delete their data; counts per state.

    `on_progress(done, total, "clearing <state>")` is called before the first batch and after each
    one (see jobctl.core.progress). Interrupted between two batches (killed, an error), a clear
    leaves every job either whole and still claimed or gone; the next clear of that queue and
    state removes the rest (and its dry run counts them).
    """
    if dry_run:
        return _clear_queue(connection, settings, queue, state, priority, True, on_progress or ignore)
    with audit.audited(
        connection, settings, "queue.clear", queue, {"state": state, "priority": priority}
    ) as entry:
        result = _clear_queue(connection, settings, queue, state, priority, False, on_progress or ignore)
        entry.count = result["total"]
    return result


def _clear_queue(
    connection: redis.Redis,
    settings: Settings,
    queue: str,
    state: str,
    priority: str | None,
    dry_run: bool,
    on_progress: Progress,
) -> dict[str, Any]:
    policy = _queue_policy(settings, queue)
    if state == "active":
        raise UsageError("active (running) jobs cannot be cleared", "stop one with `jobctl job cancel ID`")
    if state != "all" and state not in CLEAR_STATES:
        raise UsageError(f"unknown state {state!r}", f"use one of {', '.join([*CLEAR_STATES, 'all'])}")
    check_priority(priority)
    states = list(CLEAR_STATES) if state == "all" else [state]
    physicals = [policy.physical(p) for p in ([priority] if priority else PRIORITIES)]
    sources = [(s, _source_key(s, q)) for s in states for q in physicals]

    removed = dict.fromkeys(states, 0)
    kept = 0
    if dry_run:
        with connection.pipeline(transaction=False) as pipe:
            for _, source in sources:
                pipe.smembers(_claims_key(source))
            leftovers = pipe.execute()
        plan = [(s, source) for s, source in sources] + [
            (s, key) for (s, _), keys in zip(sources, leftovers, strict=True) for key in _decoded_all(keys)
        ]
        for (s, _), count in zip(plan, _sizes(connection, plan), strict=True):
            removed[s] += count
    else:
        deleted, kept = _drain(connection, _claim_all(connection, sources), on_progress)
        for s, count in deleted.items():
            removed[s] += count
    result: dict[str, Any] = {
        "queue": policy.name,
        "priority": priority,
        "state": state,
        "dry_run": dry_run,
        "removed": removed,
        "total": sum(removed.values()),
        "note": ACTIVE_NOTE,
    }
    if kept:
        result["kept_dead_letter"] = kept  # stray failed-registry entries of dead jobs: data kept
    return result


# --- delete ---------------------------------------------------------------------------------------


def _delete_one(connection: redis.Redis, job_id: str) -> str | None:
    """Delete a job unless it runs; returns a refusal reason, or None when deleted.
    WATCHes the job hash so a worker starting it meanwhile makes us look again."""
    for _ in range(5):
        with connection.pipeline() as pipe:
            try:
                pipe.watch(Job.key_for(job_id))
                raw = pipe.hget(Job.key_for(job_id), "status")
                if raw is None:
                    return "gone"
                if decoded(raw) == JobStatus.STARTED.value:
                    return "running: stop it with `jobctl job cancel` first"
                job = Job.fetch(job_id, connection=connection, serializer=PayloadSerializer)
                pipe.multi()
                job.delete(pipeline=pipe, remove_from_queue=True)
                pipe.execute()
                return None
            except redis.WatchError:
                continue
            except NoSuchJobError:
                return "gone"
    return "kept changing while being deleted; try again"


def delete_jobs(connection: redis.Redis, settings: Settings, job_ids: Iterable[str]) -> dict[str, Any]:
    """Delete jobs (from whichever queue or registry holds them) and their data; never running ones."""
    ids = list(job_ids)
    with audit.audited(connection, settings, "job.delete", audit.id_target(ids)) as entry:
        result = _delete_jobs(connection, ids)
        audit.bulk_outcome(entry, len(result["deleted"]), len(result["not_found"]) + len(result["refused"]))
    return result


def _delete_jobs(connection: redis.Redis, job_ids: list[str]) -> dict[str, Any]:
    ids = _check_ids(job_ids)
    dead = _dead_lettered(connection, ids)
    deleted: list[str] = []
    not_found: list[str] = []
    refused: list[dict[str, str]] = []
    for job_id in ids:
        if job_id in dead:
            refused.append({"id": job_id, "reason": "on the dead-letter queue: use `jobctl dlq purge`"})
            continue
        reason = _delete_one(connection, job_id)
        if reason == "gone":
            not_found.append(job_id)
        elif reason:
            refused.append({"id": job_id, "reason": reason})
        else:
            deleted.append(job_id)
    return {"deleted": deleted, "not_found": not_found, "refused": refused}


# --- retry ----------------------------------------------------------------------------------------


def _policy_of(settings: Settings, job: Job) -> QueuePolicy | None:
    name = job.meta.get("queue") or split_physical(job.origin or "")[0]
    policy = queue_catalog(settings).get(name)
    return None if policy is None or policy.is_dead_letter else policy


def retry_failed(connection: redis.Redis, settings: Settings, job_ids: Iterable[str]) -> dict[str, Any]:
    """Put failed jobs back on their original queue and priority, same id, attempts reset (dead-lettered
    ones are refused: `retry_jobs` replays those)."""
    ids = list(job_ids)
    with audit.audited(connection, settings, "job.retry", audit.id_target(ids)) as entry:
        result = _retry_failed(connection, settings, ids)
        audit.bulk_outcome(entry, len(result["retried"]), len(result["not_found"]) + len(result["refused"]))
    return result


def _retry_failed(connection: redis.Redis, settings: Settings, job_ids: list[str]) -> dict[str, Any]:
    ids = _check_ids(job_ids)
    dead = _dead_lettered(connection, ids)
    retried: list[str] = []
    not_found: list[str] = []
    refused: list[dict[str, str]] = []
    for job_id, job in zip(ids, _fetch_many(connection, ids), strict=True):
        if job is None:
            not_found.append(job_id)
            continue
        if job_id in dead:
            refused.append({"id": job_id, "reason": "dead-lettered: retry it again to replay it"})
            continue
        locked = payloads.locked(job)
        if locked is not None:  # its meta cannot be rewritten without the key
            refused.append({"id": job_id, "reason": locked.message})
            continue
        registry = FailedJobRegistry(job.origin, connection=connection, serializer=PayloadSerializer)
        if connection.zscore(registry.key, job_id) is None:
            refused.append({"id": job_id, "reason": f"not failed (status {_status(job)})"})
            continue
        policy = _policy_of(settings, job)
        if policy is None:
            refused.append({"id": job_id, "reason": f"origin {job.origin!r} is not a catalogue queue"})
            continue
        retry = retry_for(policy)
        job.retries_left = retry.max if retry else None
        job.retry_intervals = retry.intervals if retry else None
        attempts = job.meta.get("attempts") or []
        job.meta.setdefault("manual_retries", []).append({"attempts_before": len(attempts)})
        job.meta["attempts"] = []
        if retry is None:  # Job.save only writes fields that are set: drop stale ones
            connection.hdel(job.key, "retries_left", "retry_intervals")
        try:
            # RQ's own requeue: ZREM from the failed registry (the claim), then a fresh enqueue on
            # job.origin that saves the job (with the reset retries) and sets it queued
            registry.requeue(job)
        except InvalidJobOperation:
            refused.append({"id": job_id, "reason": "left the failed registry meanwhile"})
            continue
        # ... which keeps the failure_ttl expiry on the hash: a job waiting longer would vanish
        connection.persist(job.key)
        retried.append(job_id)
    return {"retried": retried, "not_found": not_found, "refused": refused}


def retry_jobs(
    connection: redis.Redis, settings: Settings, job_ids: Iterable[str], *, queue: str | None = None
) -> dict[str, Any]:
    """The on-call retry verb (`jobctl retry`, POST /api/jobs/retry): each id gets another go, whatever
    ended it. A failed job goes back to its queue (`retry_failed`); a dead-lettered one is replayed by
    `dlq.replay`, the very path of `jobctl dlq retry` (which records its own dlq.replay audit entry
    besides this job.retry one). With `queue`, an id whose job is not in that queue is not found there
    (the dead-letter queue holds every dead-lettered job).

    Returns the ids per outcome (retried, replayed, not_found, refused with reasons) and `results`:
    one {id, outcome, reason} per id, in the order asked."""
    ids = list(job_ids)
    with audit.audited(connection, settings, "job.retry", audit.id_target(ids), {"queue": queue}) as entry:
        result = _retry_jobs(connection, settings, ids, queue)
        audit.bulk_outcome(
            entry,
            len(result["retried"]) + len(result["replayed"]),
            len(result["not_found"]) + len(result["refused"]),
        )
    return result


def _retry_jobs(
    connection: redis.Redis, settings: Settings, job_ids: list[str], queue: str | None
) -> dict[str, Any]:
    ids = _check_ids(job_ids)
    expected = get_policy(queue_catalog(settings), queue).name if queue else None
    dead = _dead_lettered(connection, ids)
    reasons: dict[str, tuple[str, str | None]] = {}  # id -> (outcome, reason)
    if expected is not None:
        for job_id, home in _homes(connection, ids, dead).items():
            if home is None:
                reasons[job_id] = ("not_found", f"no job {job_id!r}")
            elif home != expected and not (expected == DEAD_LETTER and job_id in dead):
                where = f"it was dead-lettered from {home!r}" if job_id in dead else f"it is in {home!r}"
                reasons[job_id] = ("not_found", f"job {job_id} is not in queue {expected!r} ({where})")
    failed = [i for i in ids if i not in dead and i not in reasons]
    dead_ids = [i for i in ids if i in dead and i not in reasons]
    if failed:
        retried = _retry_failed(connection, settings, failed)
        reasons |= {i: ("retried", None) for i in retried["retried"]}
        reasons |= {i: ("not_found", f"no job {i!r}") for i in retried["not_found"]}
        reasons |= {r["id"]: ("refused", r["reason"]) for r in retried["refused"]}
    if dead_ids:
        replayed = dlq.replay(connection, settings, dead_ids)
        reasons |= {i: ("replayed", None) for i in replayed["replayed"]}
        reasons |= {i: ("not_found", f"no dead-letter entry {i!r}") for i in replayed["not_found"]}
        reasons |= {r["id"]: ("refused", r["reason"]) for r in replayed["refused"]}
    results = [{"id": i, "outcome": reasons[i][0], "reason": reasons[i][1]} for i in ids]
    return {
        "retried": [r["id"] for r in results if r["outcome"] == "retried"],
        "replayed": [r["id"] for r in results if r["outcome"] == "replayed"],
        "not_found": [r["id"] for r in results if r["outcome"] == "not_found"],
        "refused": [{"id": r["id"], "reason": r["reason"]} for r in results if r["outcome"] == "refused"],
        "results": results,
    }


def _homes(connection: redis.Redis, ids: list[str], dead: set[str]) -> dict[str, str | None]:
    """The catalogue queue each job belongs to (a dead one: the queue it died on); None when unknown."""
    homes: dict[str, str | None] = {}
    for job_id in ids:
        if job_id in dead:
            entry = dlq.previous_entry(connection, job_id)
            homes[job_id] = entry.get("queue") if entry else None
    alive = [i for i in ids if i not in dead]
    for job_id, job in zip(alive, _fetch_many(connection, alive) if alive else [], strict=True):
        homes[job_id] = (
            None if job is None else job.meta.get("queue") or split_physical(job.origin or "")[0] or None
        )
    return homes


# --- pause / resume -------------------------------------------------------------------------------


def paused_queues(connection: redis.Redis) -> set[str]:
    return {m.decode() if isinstance(m, bytes) else m for m in connection.smembers(keyspace.paused_queues())}


def pause_queue(connection: redis.Redis, settings: Settings, queue: str) -> dict[str, Any]:
    """Workers stop taking this queue's jobs (all priorities); running jobs finish."""
    return _set_paused(connection, settings, queue, paused=True)


def resume_queue(connection: redis.Redis, settings: Settings, queue: str) -> dict[str, Any]:
    return _set_paused(connection, settings, queue, paused=False)


def _set_paused(connection: redis.Redis, settings: Settings, queue: str, *, paused: bool) -> dict[str, Any]:
    with audit.audited(connection, settings, "queue.pause" if paused else "queue.resume", queue) as entry:
        policy = _queue_policy(settings, queue)
        change = connection.sadd if paused else connection.srem
        changed = bool(change(keyspace.paused_queues(), policy.name))
        entry.count = int(changed)
    return {"queue": policy.name, "paused": paused, "changed": changed}


# --- cancel ---------------------------------------------------------------------------------------


def cancel_job(connection: redis.Redis, settings: Settings, job_id: str) -> dict[str, Any]:
    """Waiting/scheduled/deferred: cancel (RQ's canceled registry). Running: ask its worker to stop it."""
    with audit.audited(connection, settings, "job.cancel", job_id) as entry:
        result = _cancel_job(connection, job_id)
        entry.count = 1
    return result


def _cancel_job(connection: redis.Redis, job_id: str) -> dict[str, Any]:
    job = fetch_job(connection, job_id)
    status = _status(job)
    if status == JobStatus.STARTED.value:
        try:
            send_stop_job_command(connection, job.id, serializer=PayloadSerializer)
        except InvalidJobOperation:
            raise JobctlError(
                f"job {job.id} is marked running but has no worker",
                "RQ's maintenance will fail it as abandoned; then delete or retry it",
            ) from None
        return {"id": job.id, "was": status, "action": "stop requested", "worker": job.worker_name}
    if status in {s.value for s in CANCELABLE}:
        try:
            job.cancel()
        except InvalidJobOperation as exc:
            raise UsageError(f"job {job.id} cannot be canceled: {exc}", "see `jobctl job show`") from None
        return {"id": job.id, "was": status, "action": "canceled"}
    if status == JobStatus.CANCELED.value:
        raise UsageError(f"job {job.id} is already canceled", "delete it with `jobctl job delete`")
    if status in (JobStatus.FINISHED.value, JobStatus.FAILED.value, JobStatus.STOPPED.value):
        raise UsageError(
            f"job {job.id} has already ended ({status}): nothing to cancel",
            "retry it with `jobctl retry` or remove it with `jobctl job delete`",
        )
    raise UsageError(
        f"job {job.id} is {status}: only waiting, scheduled, deferred or running jobs can be canceled",
        "see `jobctl job show`",
    )
