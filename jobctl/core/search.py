"""Finding jobs by id, type or recipient, whatever queue or state they are in.

By id it costs O(1): the job's hash (and the dead-letter index, and the entry when only that is left).
By type or recipient it is a bounded scan: the ids of every searched list and registry (one source per
queue, priority and state, plus the dead-letter index) are read newest first, a batch from each source
in turn, and their hashes checked with pipelined HMGETs, until `limit` matches are found or
`scan_limit` jobs have been examined. The result says how many were examined of how many there are
(`scanned`, `total`, `complete`), so every face can tell a partial answer from a full one.

Payloads may be encrypted at rest: they are opened only to match a recipient, and what is returned
is the listing rows of jobctl.core.browse (no payload; descriptions redacted unless `reveal`).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import redis
from rq.job import Job

from jobctl.config import Settings
from jobctl.core import browse, keyspace, payloads
from jobctl.core.catalog import PRIORITIES, get_policy, queue_catalog
from jobctl.core.connection import decoded_members
from jobctl.core.jobtypes import FUNC_TO_TYPE, JOB_TYPES
from jobctl.core.payloads import EncryptedData, PayloadSerializer
from jobctl.core.redact import redact_fields
from jobctl.core.stats import STATES, queue_key, registry_key
from jobctl.errors import UsageError

SEARCH_STATES = (*STATES, "dead")  # "dead": dead-lettered (the dead-letter queue's entries)
SCAN_LIMIT = 10_000  # jobs examined at most by a type/recipient search unless told
MAX_SCAN_LIMIT = 1_000_000
MAX_LIMIT = 1_000
BATCH = 500  # ids read from one source, and hashes checked, per round trip
FIELDS = ("data", "meta", "status")
# where a job is, from its hash's status (RQ's words -> the state tabs of every face)
STATUS_STATE = {
    "queued": "waiting",
    "started": "active",
    "scheduled": "scheduled",
    "deferred": "scheduled",
    "finished": "completed",
    "failed": "failed",
}


@cache
def recipient_fields(job_type: str) -> tuple[str, ...]:
    """The payload fields of `job_type` its contract marks as holding a recipient (email: "to")."""
    return tuple(f.name for f in JOB_TYPES[job_type].load_contract().fields if f.recipient)


def recipient_types() -> tuple[str, ...]:
    return tuple(t for t in JOB_TYPES if recipient_fields(t))


def recipient_matches(needle: str, addresses: Any) -> bool:
    """Case-insensitive. A whole address (`name@domain`) matches that address exactly; anything else
    (`@example.com`, `ann@`, `bob`) matches as a substring of an address."""
    if isinstance(addresses, str):
        addresses = [addresses]
    if not isinstance(addresses, list):
        return False
    wanted = needle.strip().lower()
    local, at, domain = wanted.partition("@")
    exact = bool(local and at and domain)  # name@domain: that address, not joann@... too
    for address in addresses:
        text = str(address).strip().lower()
        if (text == wanted) if exact else (wanted in text):
            return True
    return False


@dataclass
class _Query:
    job_type: str | None
    recipient: str | None
    recipient_types: tuple[str, ...] = field(default_factory=tuple)

    def type_matches(self, job_type: str | None) -> bool:
        if self.job_type is not None and job_type != self.job_type:
            return False
        return self.recipient is None or job_type in self.recipient_types

    def payload_matches(self, job_type: str, payload: Any) -> bool:
        if self.recipient is None:
            return True
        if not isinstance(payload, dict):
            return False
        return any(recipient_matches(self.recipient, payload.get(f)) for f in recipient_fields(job_type))


class _Unreadable(Exception):
    """A job whose data no key here opens (or that is corrupt): counted, not matched."""


def _job_type(meta_raw: bytes | None, data_raw: bytes | None) -> str | None:
    try:
        meta = PayloadSerializer.loads(meta_raw) if meta_raw else {}
    except (EncryptedData, ValueError) as exc:
        raise _Unreadable from exc
    if isinstance(meta, dict) and meta.get("type"):
        return meta["type"]
    func = _call(data_raw)[0]
    return FUNC_TO_TYPE.get(func, func)


def _call(data_raw: bytes | None) -> list[Any]:
    """RQ's stored call: [func name, instance, args, kwargs] (zlib-compressed, then our serializer)."""
    if not data_raw:
        raise _Unreadable
    try:
        try:
            data = zlib.decompress(data_raw)
        except zlib.error:
            data = data_raw
        call = PayloadSerializer.loads(data)
    except (EncryptedData, ValueError) as exc:
        raise _Unreadable from exc
    if not isinstance(call, list | tuple) or len(call) < 3:
        raise _Unreadable
    return list(call)


def _hash_matches(query: _Query, fields: list[bytes | None]) -> bool:
    """One job hash's data/meta against the query; raises _Unreadable."""
    data_raw, meta_raw = fields[0], fields[1]
    job_type = _job_type(meta_raw, data_raw)
    if not query.type_matches(job_type):
        return False
    if query.recipient is None:
        return True
    args = _call(data_raw)[2]
    return query.payload_matches(job_type or "", args[0] if args else None)


def _entry_matches(query: _Query, raw: bytes | str | None) -> bool:
    """A dead-letter entry (its job hash gone) against the query; raises _Unreadable."""
    if raw is None:
        return False
    entry = json.loads(raw)
    if not query.type_matches(entry.get("type")):
        return False
    if query.recipient is None:
        return True
    try:
        opened = payloads.open_fields(entry, ("payload",))
    except EncryptedData as exc:
        raise _Unreadable from exc
    return query.payload_matches(entry["type"], opened.get("payload"))


# --- sources: the lists and registries a scan walks ----------------------------------------------


@dataclass
class _Source:
    state: str
    key: str
    kind: str  # "list", "zset" (newest = highest score), "zset-asc" (scheduled: soonest first), "dead"
    size: int = 0
    read: int = 0

    @property
    def left(self) -> int:
        return max(0, self.size - self.read)


def _sources(settings: Settings, queue: str | None, state: str | None) -> list[_Source]:
    catalog = queue_catalog(settings)
    policy = get_policy(catalog, queue) if queue else None
    states = [state] if state else list(SEARCH_STATES)
    sources: list[_Source] = []
    if policy is None or not policy.is_dead_letter:
        policies = [policy] if policy else [p for p in catalog.values() if not p.is_dead_letter]
        for st in (s for s in ("waiting", "active", "scheduled", "failed", "completed") if s in states):
            for pol in policies:
                for prio in PRIORITIES:
                    physical = pol.physical(prio)
                    if st == "waiting":
                        sources.append(_Source(st, queue_key(physical), "list"))
                    else:
                        kind = "zset-asc" if st == "scheduled" else "zset"
                        sources.append(_Source(st, registry_key(st, physical), kind))
    dead_too = "dead" in states or (policy is not None and policy.is_dead_letter and "failed" in states)
    if dead_too:
        index = (
            keyspace.dlq_queue_index(policy.name)
            if policy is not None and not policy.is_dead_letter
            else keyspace.dlq_index()
        )
        sources.append(_Source("dead", index, "dead"))
    return sources


def _read_sizes(connection: redis.Redis, sources: list[_Source]) -> None:
    with connection.pipeline(transaction=False) as pipe:
        for s in sources:
            (pipe.llen if s.kind == "list" else pipe.zcard)(s.key)
        for s, size in zip(sources, pipe.execute(), strict=True):
            s.size = int(size)


def _next_ids(connection: redis.Redis, source: _Source, count: int) -> list[str]:
    start, stop = source.read, source.read + count - 1
    raw: Any
    if source.kind == "list":  # RPUSHed: the newest at the tail
        raw = list(reversed(connection.lrange(source.key, -stop - 1, -start - 1)))
    elif source.kind == "zset-asc":
        raw = connection.zrange(source.key, start, stop)
    else:
        raw = connection.zrevrange(source.key, start, stop)
    source.read += count
    # a claim's member in the wip registry is "<job id>:<claim token>"
    return [m.split(":", 1)[0] for m in decoded_members(raw)]


def _rounds(
    connection: redis.Redis, sources: list[_Source], budget: int
) -> Iterator[tuple[_Source, list[str]]]:
    """(source, ids) batches, a batch from each source in turn (newest first in each), until the
    sources are exhausted or `budget` ids have been read."""
    while budget > 0:
        active = [s for s in sources if s.left]
        if not active:
            return
        for source in active:
            count = min(BATCH, source.left, budget)
            if count <= 0:
                return
            ids = _next_ids(connection, source, count)
            budget -= count
            yield source, ids


# --- the search ----------------------------------------------------------------------------------


def _check(
    job_id: str | None,
    job_type: str | None,
    recipient: str | None,
    state: str | None,
    limit: int,
    scan_limit: int,
) -> None:
    if job_id is None and job_type is None and recipient is None:
        raise UsageError("nothing to search for", "give a job id, a job type or a recipient")
    if job_id is not None and not browse.JOB_ID.match(job_id):
        raise UsageError(f"invalid job id {job_id!r}", "job ids are letters, digits, '_' and '-'")
    if job_type is not None and job_type not in JOB_TYPES:
        raise UsageError(f"unknown job type {job_type!r}", f"job types are: {', '.join(JOB_TYPES)}")
    if recipient is not None:
        if not recipient.strip():
            raise UsageError("recipient is empty", "give an address, e.g. alice@example.com, or part of one")
        if job_type is not None and not recipient_fields(job_type):
            raise UsageError(
                f"{job_type} jobs have no recipient",
                f"recipients are searched in: {', '.join(recipient_types())}",
            )
    if state is not None and state not in SEARCH_STATES:
        raise UsageError(f"unknown state {state!r}", f"use one of {', '.join(SEARCH_STATES)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"limit must be 1 to {MAX_LIMIT}", "e.g. --limit 50")
    if not 1 <= scan_limit <= MAX_SCAN_LIMIT:
        raise UsageError(f"scan limit must be 1 to {MAX_SCAN_LIMIT:,}", f"e.g. --scan-limit {SCAN_LIMIT}")


def search_jobs(
    connection: redis.Redis,
    settings: Settings,
    *,
    job_id: str | None = None,
    job_type: str | None = None,
    recipient: str | None = None,
    queue: str | None = None,
    state: str | None = None,
    limit: int = 50,
    scan_limit: int = SCAN_LIMIT,
    reveal: bool = False,
) -> dict[str, Any]:
    """Jobs matching every criterion given, as listing rows with their `state` (where the job is:
    waiting, active, scheduled, completed, failed, dead; scheduled rows also `runs_at`).

    With `job_id`: O(1), in whatever queue and state it is (the other criteria filter that one job).
    Otherwise a scan of at most `scan_limit` jobs, newest first, stopping at `limit` matches.
    Recipient: case-insensitive; a whole address matches exactly, other text as a substring.

    Returns {jobs, by ("id" or "scan"), scanned, total, complete, stopped ("limit", "scan_limit" or
    None), unreadable (jobs no key here opens, not matched)}."""
    _check(job_id, job_type, recipient, state, limit, scan_limit)
    if queue is not None:
        queue = get_policy(queue_catalog(settings), queue).name
    query = _Query(job_type, recipient, recipient_types() if recipient is not None else ())
    if job_id is not None:
        result = _by_id(connection, settings, query, job_id, queue, state)
    else:
        result = _scan(connection, settings, query, queue, state, limit, scan_limit)
    rows = result["jobs"]
    result["jobs"] = [r if reveal else redact_fields(r, ("description",)) for r in rows]
    result["query"] = {
        "job_id": job_id,
        "job_type": job_type,
        "recipient": recipient,
        "queue": queue,
        "state": state,
        "limit": limit,
        "scan_limit": scan_limit,
    }
    return result


def _by_id(
    connection: redis.Redis,
    settings: Settings,
    query: _Query,
    job_id: str,
    queue: str | None,
    state: str | None,
) -> dict[str, Any]:
    with connection.pipeline(transaction=False) as pipe:
        pipe.hmget(Job.key_for(job_id), *FIELDS)
        pipe.zscore(keyspace.dlq_index(), job_id)
        fields, died = pipe.execute()
    exists = fields[2] is not None
    unreadable = 0
    matched = False
    try:
        if exists:
            matched = _hash_matches(query, fields)
        elif died is not None:
            matched = _entry_matches(query, connection.get(keyspace.dlq_entry(job_id)))
    except _Unreadable:
        unreadable = 1
    rows = []
    if matched:
        rows = [
            r
            for r in rows_now(connection, settings, [job_id], reveal=True)
            if (
                queue is None
                or r["queue"] == queue
                or (r["state"] == "dead" and _is_dead_letter(settings, queue))
            )
            and (state is None or r["state"] == state)
        ]
    found = int(exists or died is not None)
    return {
        "by": "id",
        "jobs": rows,
        "scanned": found,
        "total": found,
        "complete": True,
        "stopped": None,
        "unreadable": unreadable,
    }


def rows_now(
    connection: redis.Redis, settings: Settings, ids: list[str], *, reveal: bool = False
) -> list[dict[str, Any]]:
    """The listing rows of `ids` as they are now, each with its `state` (dead when dead-lettered;
    scheduled ones with `runs_at`); gone ones left out; descriptions redacted unless `reveal`.
    O(len(ids)), a few round trips: what a face re-reads on refresh instead of searching again."""
    with connection.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.zscore(keyspace.dlq_index(), job_id)
        dead = {job_id for job_id, died in zip(ids, pipe.execute(), strict=True) if died is not None}
    rows = browse.job_rows(connection, settings, ids, from_dead_letters=True)
    for row in rows:
        row["state"] = "dead" if row["id"] in dead else STATUS_STATE.get(row["status"], row["status"])
    browse.add_run_times(connection, [r for r in rows if r["state"] == "scheduled"])
    return rows if reveal else [redact_fields(r, ("description",)) for r in rows]


def _is_dead_letter(settings: Settings, queue: str) -> bool:
    return get_policy(queue_catalog(settings), queue).is_dead_letter


def _scan(
    connection: redis.Redis,
    settings: Settings,
    query: _Query,
    queue: str | None,
    state: str | None,
    limit: int,
    scan_limit: int,
) -> dict[str, Any]:
    sources = _sources(settings, queue, state)
    _read_sizes(connection, sources)
    total = sum(s.size for s in sources)
    found: list[tuple[str, str]] = []  # (job id, state)
    seen: set[str] = set()
    scanned = unreadable = 0
    stopped = None
    for source, ids in _rounds(connection, sources, scan_limit):
        scanned += len(ids)
        with connection.pipeline(transaction=False) as pipe:
            for job_id in ids:
                if source.kind == "dead":
                    pipe.get(keyspace.dlq_entry(job_id))
                else:
                    pipe.hmget(Job.key_for(job_id), *FIELDS)
            replies = pipe.execute()
        for job_id, reply in zip(ids, replies, strict=True):
            if job_id in seen:
                continue  # an id twice on a list: one job
            try:
                matched = (
                    _entry_matches(query, reply)
                    if source.kind == "dead"
                    else reply[2] is not None and _hash_matches(query, reply)
                )
            except _Unreadable:
                unreadable += 1
                continue
            if matched:
                seen.add(job_id)
                found.append((job_id, source.state))
                if len(found) == limit:
                    break
        if len(found) == limit:
            stopped = "limit"
            break
    complete = scanned >= total and stopped is None
    if not complete and stopped is None:
        stopped = "scan_limit"
    return {
        "by": "scan",
        "jobs": _rows(connection, settings, found),
        "scanned": scanned,
        "total": total,
        "complete": complete,
        "stopped": stopped,
        "unreadable": unreadable,
    }


def _rows(connection: redis.Redis, settings: Settings, found: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Listing rows of the matches, in the order found, each with the state it was found in."""
    live = [i for i, st in found if st != "dead"]
    dead = [i for i, st in found if st == "dead"]
    by_id = {r["id"]: r for r in browse.job_rows(connection, settings, live)}
    by_id |= {r["id"]: r for r in browse.job_rows(connection, settings, dead, from_dead_letters=True)}
    rows = []
    for job_id, st in found:
        row = by_id.get(job_id)
        if row is not None:  # else: deleted since it was matched
            rows.append({**row, "state": st})
    browse.add_run_times(connection, [r for r in rows if r["state"] == "scheduled"])
    return rows
