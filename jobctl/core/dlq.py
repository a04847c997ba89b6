"""The dead-letter queue: where a job goes when it has no attempts left, and how it comes back.

Each entry is one JSON document (everything needed to judge and replay the job) plus a member in
two sorted sets scored by died-at time: one for all entries, one per queue. Listing walks those
indexes newest first, so it costs O(log n + page), not O(entries). The RQ job hash is kept
(without expiry) so `jobctl job show` and a replay under the same id keep working.

With JOBCTL_ENCRYPTION_KEYS set, the fields that can hold personal data (SEALED_FIELDS) are stored
encrypted, each on its own: a listing opens only the short error message of each entry it shows,
and a purge opens nothing. Entries are handed to faces redacted unless `reveal=True`; replay
works from the stored, unredacted entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import redis
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from jobctl.config import Settings
from jobctl.core import audit, dlq_groups, keyspace, payloads, submit
from jobctl.core.attempts import merge_abandoned
from jobctl.core.catalog import check_priority, get_policy, queue_catalog, split_physical
from jobctl.core.connection import decoded_members
from jobctl.core.enqueue import retry_for, rq_queue
from jobctl.core.jobtypes import FUNC_TO_TYPE, JOB_TYPES, TEST_ONLY, test_only_refusal
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.progress import Progress, ignore
from jobctl.core.redact import redact, redact_fields
from jobctl.durations import parse_seconds
from jobctl.errors import InvalidPayload, JobctlError, NotFound, UsageError

log = logging.getLogger("jobctl.dlq")

MESSAGE_LIMIT = 500
SEALED_FIELDS = (
    "payload",
    "attempts",
    "error_message",
    "traceback",
)  # encrypted at rest, redacted when shown
SCAN_PAGE = 200
SETTLE_SECONDS = 10
PROGRESS_STEP = 500  # entries replayed between two progress reports of a big replay
PURGE_BATCH = 500  # entries per atomic purge step (_PURGE_STEP): ~10-15 ms of server time each
ID_PAGE = 5_000  # ids read per round trip when a purge selects by index alone


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def error_summary(exc_string: str) -> tuple[str, str]:
    """(type, message) from the last line of a formatted traceback."""
    lines = [line for line in (exc_string or "").strip().splitlines() if line.strip()]
    if not lines:
        return "UnknownError", ""
    last = lines[-1].strip()
    name, sep, message = last.partition(": ")
    name = name.rsplit(".", 1)[-1]
    if not sep or " " in name:
        return "Error", last[:MESSAGE_LIMIT]
    return name, message[:MESSAGE_LIMIT]


def build_entry(
    job: Job, exc_string: str, worker: str | None, previous: dict | None = None
) -> dict[str, Any]:
    queue, priority = split_physical(job.origin or "")
    attempts = list(job.meta.get("attempts", []))
    error_type, error_message = error_summary(exc_string)
    return {
        "job_id": job.id,
        "queue": job.meta.get("queue", queue),
        "priority": job.meta.get("priority", priority),
        "type": job.meta.get("type") or FUNC_TO_TYPE.get(job.func_name, job.func_name),
        "func": job.func_name,
        "payload": job.args[0] if job.args else None,
        "attempts": attempts,
        "attempt_count": len(attempts),
        "first_enqueued_at": _iso(job.created_at),
        "died_at": utc_now().isoformat(),
        "worker": worker,
        "error_type": error_type,
        "error_message": error_message,
        "traceback": exc_string,
        "replays": (previous or {}).get("replays", []),
        "state": "dead",
    }


def stored_form(entry: dict[str, Any]) -> str:
    return json.dumps(payloads.seal_fields(entry, SEALED_FIELDS), default=str)


def _stored(connection: redis.Redis, job_id: str) -> dict[str, Any] | None:
    """The entry as stored: its sealed fields (if any) still sealed."""
    raw = connection.get(keyspace.dlq_entry(job_id))
    return json.loads(raw) if raw else None


def read_entry(connection: redis.Redis, job_id: str, *, reveal: bool = False) -> dict[str, Any] | None:
    """The whole entry, decrypted, and redacted unless `reveal`."""
    stored = _stored(connection, job_id)
    if stored is None:
        return None
    entry = payloads.open_fields(stored)
    return entry if reveal else redact_fields(entry, SEALED_FIELDS)


def add(connection: redis.Redis, job: Job, exc_string: str, worker: str | None) -> dict[str, Any]:
    """Record `job` as dead: entry, indexes, out of RQ's failed registry, job hash kept for good."""
    entry = build_entry(job, exc_string, worker, _stored(connection, job.id))  # only its replays are read
    score = time.time()
    with connection.pipeline() as pipe:
        pipe.set(keyspace.dlq_entry(job.id), stored_form(entry))
        pipe.zadd(keyspace.dlq_index(), {job.id: score})
        pipe.zadd(keyspace.dlq_queue_index(entry["queue"]), {job.id: score})
        if job.origin:
            pipe.zrem(FailedJobRegistry(job.origin, connection=connection).key, job.id)
        pipe.persist(job.key)
        pipe.hset(
            job.key,
            mapping={
                "meta": job.serializer.dumps(job.meta),
                "status": JobStatus.FAILED.value,
                "jobctl_abandoned": "[]",
            },
        )  # merged into meta's attempts above
        dlq_groups.group(pipe, [entry])  # after the ZADD above: it groups only indexed ids
        pipe.execute()
    log_dead(entry)
    return entry


def previous_entry(connection: redis.Redis, job_id: str) -> dict[str, Any] | None:
    """A job's earlier dead-letter entry as stored (its replays carry over to the next one)."""
    return _stored(connection, job_id)


def log_dead(entry: dict[str, Any]) -> None:
    log.warning(
        "dead-lettered job %s from %s after %d attempt(s): %s: %s",
        entry["job_id"],
        entry["queue"],
        entry["attempt_count"],
        entry["error_type"],
        entry["error_message"][:200],
    )


# KEYS[1] the dead-letter index, KEYS[2] the group index prefix (jobctl.core.dlq_groups). ARGV[1] the
# entry key prefix, ARGV[2] the per-queue index prefix, ARGV[3] the job hash prefix, ARGV[4] the
# results prefix, then the ids. Purges each id still in the dead-letter index: entry, both index
# members, group counts and job data, all in this one atomic step, so whatever happens between two
# steps an entry is either purged with its group counts updated or left whole. An id no longer in the
# index (replayed or purged meanwhile) is skipped: a replayed job's live data is never touched.
# The entry's queue comes from its group record (no entry read), else from the entry itself.
# Server time goes per command more than per key, so everything is asked in bulk, CHUNK members a
# command (under Lua's unpack limit): one ZMSCORE, one HMGET of group records, one UNLINK, one ZREM
# per index, and per group one ZREM and one HINCRBY per queue and type it loses entries of, the
# same changes dlq_groups' dlq_ungroup makes one id at a time. Nothing in here can raise after the
# first write (a script error would keep the writes before it). Returns the ids purged.
_PURGE_STEP = r"""
local CHUNK = 1000
local function in_chunks(list, call)
  for f = 1, #list, CHUNK do call(unpack(list, f, math.min(f + CHUNK - 1, #list))) end
end
local gp = KEYS[2]
local asked = {}
for i = 5, #ARGV do asked[i - 4] = ARGV[i] end
local ids, n = {}, 0
for f = 1, #asked, CHUNK do
  local l = math.min(f + CHUNK - 1, #asked)
  local scores = redis.call('ZMSCORE', KEYS[1], unpack(asked, f, l))
  for i = f, l do
    if scores[i - f + 1] then n = n + 1; ids[n] = asked[i] end
  end
end
if n == 0 then return {} end
local keys, by_queue, groups, grouped = {}, {}, {}, {}
for f = 1, n, CHUNK do
  local l = math.min(f + CHUNK - 1, n)
  local records = redis.call('HMGET', gp .. 'grouped', unpack(ids, f, l))
  for i = f, l do
    local id, queue = ids[i], nil
    local record = records[i - f + 1]
    if record then
      local g = cjson.decode(record)
      queue = g[2]
      local group = groups[g[1]]
      if not group then
        group = {ids = {}, q = {}, t = {}}
        groups[g[1]] = group
      end
      group.ids[#group.ids + 1] = id
      group.q[g[2]] = (group.q[g[2]] or 0) + 1
      group.t[g[3]] = (group.t[g[3]] or 0) + 1
      grouped[#grouped + 1] = id
    else
      local doc = redis.call('GET', ARGV[1] .. id)
      if doc then
        local ok, entry = pcall(cjson.decode, doc)
        if ok and type(entry) == 'table' then queue = entry['queue'] end
      end
    end
    if type(queue) == 'string' then
      by_queue[queue] = by_queue[queue] or {}
      table.insert(by_queue[queue], id)
    end
    local k = #keys
    keys[k + 1], keys[k + 2], keys[k + 3] = ARGV[1] .. id, ARGV[3] .. id, ARGV[4] .. id
  end
end
in_chunks(keys, function(...) redis.call('UNLINK', ...) end)
in_chunks(ids, function(...) redis.call('ZREM', KEYS[1], ...) end)
for queue, members in pairs(by_queue) do
  in_chunks(members, function(...) redis.call('ZREM', ARGV[2] .. queue, ...) end)
end
in_chunks(grouped, function(...) redis.call('HDEL', gp .. 'grouped', ...) end)
for gid, group in pairs(groups) do
  local meta = gp .. 'group:' .. gid
  in_chunks(group.ids, function(...) redis.call('ZREM', meta .. ':ids', ...) end)
  for prefix, counts in pairs({q = group.q, t = group.t}) do
    for name, count in pairs(counts) do
      local field = prefix .. ':' .. name
      if redis.call('HINCRBY', meta, field, -count) <= 0 then redis.call('HDEL', meta, field) end
    end
  end
  if redis.call('ZCARD', meta .. ':ids') == 0 then
    redis.call('DEL', meta)
    redis.call('SREM', gp .. 'groups', gid)
  end
end
return ids
"""


def _drop(connection: redis.Redis, job_ids: list[str]) -> list[str]:
    """Purge entries still dead-lettered (entry, indexes, group counts, job data) in one atomic step
    (_PURGE_STEP); returns the ids purged. Keep a call to PURGE_BATCH ids: one step, one pause of
    every other client."""
    if not job_ids:
        return []
    step = connection.register_script(_PURGE_STEP)
    purged = step(
        keys=[keyspace.dlq_index(), dlq_groups.group_prefix()],
        args=[
            keyspace.dlq_entry(""),
            keyspace.dlq_queue_index(""),
            keyspace.job_key_prefix(),
            keyspace.results_key_prefix(),
            *job_ids,
        ],
    )
    return decoded_members(purged)


def enforce_retention(connection: redis.Redis, settings: Settings, now: float | None = None) -> list[str]:
    """Drop entries past JOBCTL_DLQ_MAX_AGE / beyond JOBCTL_DLQ_MAX_ENTRIES, oldest first; log each drop."""
    now = time.time() if now is None else now
    dropped: list[str] = []
    if settings.dlq_max_age:
        old = decoded_members(connection.zrangebyscore(keyspace.dlq_index(), 0, now - settings.dlq_max_age))
        dropped += old
    if settings.dlq_max_entries:
        excess = connection.zcard(keyspace.dlq_index()) - len(dropped) - settings.dlq_max_entries
        if excess > 0:
            oldest = decoded_members(connection.zrange(keyspace.dlq_index(), 0, excess + len(dropped) - 1))
            dropped += [i for i in oldest if i not in set(dropped)]
    for job_id in dropped:
        log.warning(
            "dropped dead-letter entry %s: over the retention limit (max entries %s, max age %s s)",
            job_id,
            settings.dlq_max_entries or "none",
            settings.dlq_max_age or "none",
        )
    for start in range(0, len(dropped), PURGE_BATCH):
        _drop(connection, dropped[start : start + PURGE_BATCH])
    return dropped


# --- reading -----------------------------------------------------------------------------------


def parse_since(text: str | None, name: str = "--since") -> float | None:
    """'90s', '15m', '1h', '7d', '1h30m' or plain seconds -> seconds; None passes through."""
    if text is None:
        return None
    return parse_seconds(text, name)


def summary(entry: dict[str, Any], *, reveal: bool = False) -> dict[str, Any]:
    entry = payloads.open_fields(entry, ("error_message",))  # the one sealed field a listing needs
    row = {
        k: entry.get(k)
        for k in (
            "job_id",
            "queue",
            "priority",
            "type",
            "attempt_count",
            "died_at",
            "error_type",
            "error_message",
        )
    }
    if not reveal:
        row["error_message"] = redact(row["error_message"])
    return row


def _matching(
    connection: redis.Redis,
    settings: Settings,
    queue: str | None,
    since: str | None,
    error_contains: str | None,
    start: int,
    fingerprint: str | None = None,
    backfill_budget: int | None = None,
):
    """Yield (position, entry) newest first from `start`, filtered; reads the index a page at a time.
    Yields (position, None) for an entry read and filtered out, so a caller can bound its scan.
    With a fingerprint it walks that group's own index (entries from before the group index are
    grouped first, `backfill_budget` of them per call; None: all)."""
    index = keyspace.dlq_index()
    queue_name = get_policy(queue_catalog(settings), queue).name if queue else None
    fingerprint = dlq_groups.check_fingerprint_id(fingerprint)
    if fingerprint:
        dlq_groups.backfill(connection, backfill_budget)
        index = dlq_groups.ids_key(fingerprint)
    elif queue_name:
        index = keyspace.dlq_queue_index(queue_name)
    floor = time.time() - parse_seconds(since, "--since") if since else 0
    needle = error_contains.lower() if error_contains else None
    position = start
    while True:
        page = connection.zrevrangebyscore(index, "+inf", floor, start=position, num=SCAN_PAGE)
        if not page:
            return
        raw = connection.mget([keyspace.dlq_entry(m) for m in decoded_members(page)])
        for offset, doc in enumerate(raw):
            if doc is None:
                continue
            entry = json.loads(doc)
            if fingerprint and queue_name and entry.get("queue") != queue_name:
                yield position + offset, None
                continue
            if needle:
                error = payloads.open_fields(entry, ("error_message", "traceback"))
                if (
                    needle
                    not in f"{error['error_type']}: {error['error_message']}\n{error['traceback']}".lower()
                ):
                    yield position + offset, None
                    continue
            yield position + offset, entry
        position += len(page)


def list_entries(
    connection: redis.Redis,
    settings: Settings,
    *,
    queue: str | None = None,
    since: str | None = None,
    error_contains: str | None = None,
    fingerprint: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    reveal: bool = False,
    scan_limit: int | None = None,
) -> dict[str, Any]:
    """A page of entries, newest first; pass back `next_cursor` for the next page. Error messages are
    redacted unless `reveal`. `fingerprint`: one group's entries (an id from `list_groups`).

    A filter (error text; queue within a group) reads entries until the page is full: with
    `scan_limit`, at most that many per call; `scan_stopped` then says the page ended there, not at
    the last match, and `next_cursor` resumes the scan."""
    if limit < 1:
        raise UsageError("--limit must be 1 or more", "e.g. --limit 50")
    try:
        start = int(cursor) if cursor else 0
        if start < 0:
            raise ValueError
    except ValueError:
        raise UsageError(
            f"invalid cursor {cursor!r}", "pass the next_cursor value of the previous page"
        ) from None
    if scan_limit is not None and scan_limit < limit:
        raise UsageError("scan_limit must be at least the page size", f"e.g. scan_limit {limit * 20}")
    entries: list[dict] = []
    next_cursor = None
    scanned = 0
    scan_stopped = False
    matching = _matching(
        connection,
        settings,
        queue,
        since,
        error_contains,
        start,
        fingerprint,
        backfill_budget=dlq_groups.BACKFILL_BUDGET,
    )
    for position, entry in matching:
        if len(entries) == limit or (scan_limit is not None and scanned == scan_limit):
            next_cursor = str(position)
            scan_stopped = len(entries) < limit
            break
        scanned += 1
        if entry is not None:
            entries.append(summary(entry, reveal=reveal))
    page = {"entries": entries, "next_cursor": next_cursor, "total": connection.zcard(keyspace.dlq_index())}
    if scan_limit is not None:
        page.update(scanned=scanned, scan_stopped=scan_stopped)
    return page


def groups(
    connection: redis.Redis,
    settings: Settings,
    *,
    queue: str | None = None,
    since: str | None = None,
    reveal: bool = False,
) -> dict[str, Any]:
    """Dead letters grouped by error fingerprint, biggest group first (see jobctl.core.dlq_groups):
    `queue` keeps the groups with entries from that queue, `since` counts only entries that died
    within that long. Costs O(groups), not O(entries)."""
    queue_name = get_policy(queue_catalog(settings), queue).name if queue else None
    floor = time.time() - parse_seconds(since, "--since") if since else 0
    return dlq_groups.list_groups(connection, queue=queue_name, floor=floor, reveal=reveal)


def by_queue(entries: list[dict[str, Any]]) -> dict[str, int]:
    """How many of `entries` per queue, biggest first: what a bulk change's preview shows."""
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["queue"]] = counts.get(entry["queue"], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def get_entry(connection: redis.Redis, job_id: str, *, reveal: bool = False) -> dict[str, Any]:
    entry = read_entry(connection, job_id, reveal=reveal)
    if entry is None:
        raise NotFound(f"no dead-letter entry {job_id!r}", "list them with `jobctl dlq list`")
    return entry


def _select(
    connection: redis.Redis,
    settings: Settings,
    job_ids: Iterable[str] | None,
    everything: bool,
    queue: str | None,
    since: str | None,
    error_contains: str | None,
    fingerprint: str | None = None,
) -> tuple[list[dict], list[str]]:
    """Entries named by id, or every entry matching the filters (`--all`); plus the unknown ids."""
    if job_ids and everything:
        raise UsageError(
            "pass job ids or --all, not both", "e.g. jobctl dlq retry --all --queue email-sending"
        )
    if not job_ids and not everything:
        raise UsageError("no job ids given", "pass job ids, or --all (with filters) for every match")
    if everything:
        matching = _matching(connection, settings, queue, since, error_contains, 0, fingerprint)
        return [e for _, e in matching if e is not None], []
    found, missing = [], []
    for job_id in dict.fromkeys(job_ids or ()):  # keeps order, drops repeats
        entry = _stored(connection, job_id)
        if entry is None or entry.get("state") != "dead":
            missing.append(job_id)
        else:
            found.append(entry)
    return found, missing


# --- changing ----------------------------------------------------------------------------------


def _revive(connection: redis.Redis, settings: Settings, entry: dict[str, Any]) -> Job:
    """The RQ job for an entry, rebuilt from the entry if its hash is gone."""
    policy = get_policy(queue_catalog(settings), entry["queue"])
    try:
        job = Job.fetch(entry["job_id"], connection=connection, serializer=PayloadSerializer)
    except Exception:  # noqa: BLE001 - NoSuchJobError or an unreadable hash: the entry has all we need
        payload = payloads.open_fields(entry, ("payload",))["payload"]
        job = Job.create(
            entry["func"],
            args=[payload],
            id=entry["job_id"],
            connection=connection,
            serializer=PayloadSerializer,
            timeout=policy.timeout,
            result_ttl=policy.completed_ttl,
            failure_ttl=policy.failed_ttl,
            description=entry["type"],
            meta={"type": entry["type"], "queue": entry["queue"], "priority": entry["priority"]},
        )
    payloads.check_readable(job)  # no key for it here: refuse before anything changes
    return job


class SelectionChanged(JobctlError):
    """A confirmed preview no longer matches what the filters select (exit 1, HTTP 409)."""


def selection_digest(entries: Iterable[dict[str, Any]]) -> str:
    """A short digest of the ids a selection holds, whatever their order."""
    return ids_digest(e["job_id"] for e in entries)


def ids_digest(job_ids: Iterable[str]) -> str:
    """selection_digest of a selection held as ids alone (a purge's)."""
    return hashlib.sha256("\n".join(sorted(job_ids)).encode()).hexdigest()[:32]


@contextmanager
def _audited_selection(
    connection: redis.Redis,
    settings: Settings,
    action: str,
    job_ids: Iterable[str] | None,
    everything: bool,
    queue: str | None,
    since: str | None,
    error_contains: str | None,
    fingerprint: str | None = None,
    expect_selection: str | None = None,
    select: Any = None,
) -> Iterator[tuple[list[Any], list[str], audit.Entry]]:
    """The entries a bulk change acts on and the ids not found, selected inside its audit record
    (by `select(ids)` when given, which returns ids, not entries). With `expect_selection` (the
    `selection` of a dry run), nothing is done unless the same entries still match: a confirmed
    preview never acts on an entry nobody was shown."""
    ids = list(job_ids or [])
    filters = {"all": everything, "queue": queue, "since": since, "error_contains": error_contains}
    if fingerprint:
        filters["fingerprint"] = fingerprint
    target = audit.id_target(ids) if ids else "dead-letter queue"
    with audit.audited(connection, settings, action, target, filters) as audit_entry:
        if select is None:
            entries, missing = _select(
                connection, settings, ids, everything, queue, since, error_contains, fingerprint
            )
            digest = selection_digest(entries) if expect_selection is not None else None
        else:  # a purge's: ids alone (see _select_ids)
            entries, missing = select(ids)
            digest = ids_digest(entries) if expect_selection is not None else None
        if expect_selection is not None and digest != expect_selection:
            raise SelectionChanged(
                f"what matches changed since the preview ({len(entries):,} entries now): nothing was done",
                "look at the new preview and confirm again",
            )
        yield entries, missing, audit_entry


def replay(
    connection: redis.Redis,
    settings: Settings,
    job_ids: Iterable[str] | None = None,
    *,
    everything: bool = False,
    queue: str | None = None,
    since: str | None = None,
    error_contains: str | None = None,
    fingerprint: str | None = None,
    dry_run: bool = False,
    on_progress: Progress | None = None,
    expect_selection: str | None = None,
) -> dict[str, Any]:
    """Re-enqueue dead jobs on their original queue and priority, same id, attempts reset;
    `on_progress(done, total, "replaying")` every PROGRESS_STEP entries (jobctl.core.progress)."""
    if dry_run:
        entries, missing = _select(
            connection, settings, job_ids, everything, queue, since, error_contains, fingerprint
        )
        return {
            "dry_run": True,
            "would_replay": [summary(e) for e in entries],
            "by_queue": by_queue(entries),
            "selection": selection_digest(entries),
            "not_found": missing,
        }
    selection = _audited_selection(
        connection,
        settings,
        "dlq.replay",
        job_ids,
        everything,
        queue,
        since,
        error_contains,
        fingerprint,
        expect_selection,
    )
    with selection as (entries, missing, audit_entry):
        result = _replay(connection, settings, entries, missing, on_progress or ignore)
        audit.bulk_outcome(audit_entry, len(result["replayed"]), len(missing))
    return result


def _replay(
    connection: redis.Redis, settings: Settings, entries: list[dict], missing: list[str], report: Progress
) -> dict[str, Any]:
    actor = audit.current_actor()
    replayed, refused = [], []
    for n, entry in enumerate(entries):
        if n % PROGRESS_STEP == 0:
            report(n, len(entries), "replaying")
        policy = get_policy(queue_catalog(settings), entry["queue"])
        priority = check_priority(entry.get("priority")) or policy.priority
        job = _revive(connection, settings, entry)
        if entry.get("type") in TEST_ONLY and not settings.test_job_types:  # a worker here would refuse it
            refusal = test_only_refusal(entry["type"])
            refused.append({"id": job.id, "reason": f"{refusal.message}; {refusal.hint}"})
            continue
        if entry.get("type") in JOB_TYPES:
            try:  # the type's contract reads it as the worker will: one that could never run stays dead
                payload, facts = submit.check_stored(entry["type"], job.args[0] if job.args else None)
            except InvalidPayload as exc:
                refused.append({"id": job.id, "reason": f"its payload could never run: {exc.message}"})
                continue
            if facts:  # written by a jobctl that put scheduler facts in the payload: they move to meta
                job.args = [payload]
                job.meta.update(facts)
        retry = retry_for(policy)
        job.retries_left = retry.max if retry else None
        job.retry_intervals = retry.intervals if retry else None
        replay_record = {
            "at": utc_now().isoformat(),
            "by": f"{actor.name} ({actor.face})",
            "attempts_before": entry["attempt_count"],
        }
        job.meta.setdefault("replays", []).append(replay_record)
        job.meta["attempts"] = []
        entry["replays"] = [*entry.get("replays", []), replay_record]
        entry["state"] = "replayed"
        # enqueue first: a crash in between leaves a live job still listed as dead, never a lost one
        rq_queue(connection, policy.physical(priority)).enqueue_job(job)
        with connection.pipeline() as pipe:
            pipe.set(keyspace.dlq_entry(job.id), json.dumps(entry, default=str))
            pipe.zrem(keyspace.dlq_index(), job.id)
            pipe.zrem(keyspace.dlq_queue_index(entry["queue"]), job.id)
            dlq_groups.ungroup(pipe, [job.id])
            pipe.execute()
        replayed.append(job.id)
    report(len(entries), len(entries), "replaying")
    return {"dry_run": False, "replayed": replayed, "not_found": missing, "refused": refused}


def purge(
    connection: redis.Redis,
    settings: Settings,
    job_ids: Iterable[str] | None = None,
    *,
    everything: bool = False,
    queue: str | None = None,
    since: str | None = None,
    error_contains: str | None = None,
    fingerprint: str | None = None,
    dry_run: bool = False,
    on_progress: Progress | None = None,
    expect_selection: str | None = None,
) -> dict[str, Any]:
    """Delete dead entries and their job data for good, PURGE_BATCH per atomic step (_PURGE_STEP).

    The selection is read as ids, never as entries, unless `error_contains` needs the error text:
    by score from the dead-letter index, the queue's or the group's. `on_progress(done, total,
    "purging")` is called before the first step and after each (jobctl.core.progress); a selection of
    more than ID_PAGE ids reports `(read, None, "selecting")` while it is read. Interrupted between
    two steps (killed, an error), a purge leaves every entry purged with its group counts updated,
    or whole; the next purge of the same selection finishes it. An entry that left the dead-letter
    queue after the selection (replayed meanwhile) is not purged and is listed in `not_found`."""
    report = on_progress or ignore

    def select(ids: list[str]) -> tuple[list[str], list[str]]:
        return _select_ids(
            connection, settings, ids, everything, queue, since, error_contains, fingerprint, report
        )

    if dry_run:
        ids, missing = select(list(job_ids or []))
        return {
            "dry_run": True,
            "would_purge": ids,
            "by_queue": by_queue([{"queue": q or "(no entry)"} for q in _queues_of(connection, ids)]),
            "selection": ids_digest(ids),
            "not_found": missing,
        }
    selection = _audited_selection(
        connection,
        settings,
        "dlq.purge",
        job_ids,
        everything,
        queue,
        since,
        error_contains,
        fingerprint,
        expect_selection,
        select,
    )
    with selection as (ids, unknown, audit_entry):
        report(0, len(ids), "purging")
        purged: list[str] = []
        for start in range(0, len(ids), PURGE_BATCH):
            purged += _drop(connection, ids[start : start + PURGE_BATCH])
            report(min(len(ids), start + PURGE_BATCH), len(ids), "purging")
        done = set(purged)
        missing = [*unknown, *(i for i in ids if i not in done)] if len(purged) < len(ids) else unknown
        audit.bulk_outcome(audit_entry, len(purged), len(missing))
    return {"dry_run": False, "purged": purged, "not_found": missing}


def _select_ids(
    connection: redis.Redis,
    settings: Settings,
    job_ids: list[str],
    everything: bool,
    queue: str | None,
    since: str | None,
    error_contains: str | None,
    fingerprint: str | None,
    report: Progress,
) -> tuple[list[str], list[str]]:
    """A purge's selection as ids, newest first (as _select picks entries), plus the unknown ids.
    Only an error-text filter reads entries; the rest is read off an index, ID_PAGE ids a trip."""
    if not everything or job_ids:  # ids named (or refused alongside --all)
        entries, missing = _select(
            connection, settings, job_ids, everything, queue, since, error_contains, fingerprint
        )
        return [e["job_id"] for e in entries], missing
    if error_contains:  # the error text may be sealed: only read here, with the key, can it be matched
        ids = []
        matching = _matching(connection, settings, queue, since, error_contains, 0, fingerprint)
        for position, entry in matching:
            if entry is not None:
                ids.append(entry["job_id"])
            if position and position % ID_PAGE == 0:
                report(len(ids), None, "selecting")
        return ids, []
    queue_name = get_policy(queue_catalog(settings), queue).name if queue else None
    fingerprint = dlq_groups.check_fingerprint_id(fingerprint)
    floor = time.time() - parse_seconds(since, "--since") if since else None
    if fingerprint:
        dlq_groups.backfill(connection, None)  # as _matching does: older entries grouped first
        index = dlq_groups.ids_key(fingerprint)
    elif queue_name:
        index = keyspace.dlq_queue_index(queue_name)
    else:
        index = keyspace.dlq_index()
    ids = _index_ids(connection, index, floor, report)
    if fingerprint and queue_name:
        ids = [i for i, q in zip(ids, _queues_of(connection, ids), strict=True) if q == queue_name]
    return ids, []


def _index_ids(connection: redis.Redis, index: str, floor: float | None, report: Progress) -> list[str]:
    """Every id of a died-at index scored `floor` or later, newest first. Paged by score, not by
    offset: an offset skips ids when others leave the index meanwhile (and costs O(offset) a page).
    Ids sharing the last score of a full page are all taken with it, as dlq_groups.backfill does."""
    ids: list[str] = []
    low = "-inf" if floor is None else repr(floor)
    while True:
        page: list[tuple[bytes, float]] = list(
            connection.zrangebyscore(  # type: ignore[arg-type]
                index, low, "+inf", start=0, num=ID_PAGE, withscores=True
            )
        )
        ids += decoded_members([member for member, _ in page])
        if len(page) < ID_PAGE:
            break
        last = page[-1][1]
        ids += decoded_members(connection.zrangebyscore(index, last, last))
        low = f"({last!r}"
        report(len(ids), None, "selecting")
    return list(dict.fromkeys(ids))[::-1]


def _queues_of(connection: redis.Redis, job_ids: list[str]) -> list[str | None]:
    """Each entry's queue: from the group index (no entry read), else the entry; None if neither."""
    queues: list[str | None] = []
    for start in range(0, len(job_ids), ID_PAGE):
        ids = job_ids[start : start + ID_PAGE]
        grouped = connection.hmget(dlq_groups.grouped_key(), ids)
        todo = [i for i, g in zip(ids, grouped, strict=True) if g is None]
        docs = (
            dict(zip(todo, connection.mget([keyspace.dlq_entry(i) for i in todo]), strict=True))
            if todo
            else {}
        )
        for job_id, g in zip(ids, grouped, strict=True):
            if g is not None:
                queues.append(json.loads(g)[1])
            else:
                doc = docs.get(job_id)
                queues.append(json.loads(doc).get("queue") if doc else None)
    return queues


def sweep_failed(connection: redis.Redis, physical_queues: Iterable[str], worker: str | None) -> list[dict]:
    """Dead-letter what reached RQ's failed registries without passing through a jobctl worker's
    failure handler (abandoned jobs, crashed workers). Stopped (cancelled) jobs stay where they are."""
    moved = []
    settle = time.time() - SETTLE_SECONDS
    for physical in physical_queues:
        registry = FailedJobRegistry(physical, connection=connection, serializer=PayloadSerializer)
        ids = registry.get_job_ids(cleanup=False)
        for job in Job.fetch_many(ids, connection=connection, serializer=PayloadSerializer):
            if job is None or job.get_status(refresh=False) != JobStatus.FAILED:
                continue
            if payloads.locked(job):
                continue  # encrypted and no key here: left for a worker that has one
            latest = job.latest_result()
            if latest is not None and latest.created_at.timestamp() > settle:
                continue  # just failed: its worker is probably dead-lettering it right now
            exc_string = (
                payloads.open_text(latest.exc_string if latest is not None else None)
                or "AbandonedJobError: worker lost"
            )
            merge_abandoned(job, connection.hget(job.key, "jobctl_abandoned"))
            moved.append(add(connection, job, exc_string, worker or job.worker_name))
    return moved
