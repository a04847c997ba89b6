"""Bulk enqueue: a million jobs from a stream, in constant memory, as fast as Redis stores them.

Two passes, so a bad row anywhere queues nothing:
1. *validating*: each row is built by its job type's contract and its payload written, as JSON
   text, to a spool file (in memory up to SPOOL_IN_MEMORY, then an unnamed temporary file the OS
   removes even if this process is killed); rows are counted (more than JOBCTL_MAX_BATCH is
   refused) and hashed into the call's digest;
2. *enqueueing*: the spool is read back and sent in batches of about BATCH_BYTES, one atomic Lua
   call per batch (lifecycle.push_rows), so every batch lands whole or not at all.
Spooling the JSON text instead of keeping payloads as objects is what keeps memory flat (a million
email payloads as dicts are ~1 GB of Python objects) and saves building each payload twice.

Job ids are made here, uuid4-shaped, from random bytes kept in one bytearray (16 bytes an id):
a million ids as Python strings would be ~90 MB. `BulkResult.ids` reads them back as text.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any, cast, overload

import redis

from jobctl.config import Settings
from jobctl.core import audit, keyspace, lifecycle, metrics
from jobctl.core.catalog import QueuePolicy
from jobctl.core.contracts import JSON_HINT
from jobctl.core.enqueue import (
    await_replicas,
    check_target,
    job_data,
    refuse_live_ids,
    scheduled_time,
    shared_fields,
)
from jobctl.core.limits import server_full, too_many
from jobctl.core.payloads import active as encrypting
from jobctl.core.payloads import seal
from jobctl.core.progress import Progress, ignore
from jobctl.errors import JobctlError, UsageError

BATCH_BYTES = 1 << 20  # per Lua call: ~1 MiB of arguments keeps one call in the ~10-30 ms range
BATCH_MAX = 5_000  # and at most this many jobs, for small payloads
VALIDATE_STEP = 500  # rows between two progress reports while validating
SPOOL_IN_MEMORY = 8 << 20  # spool bytes kept in memory before it moves to a temporary file
COMPRESS_ABOVE = 2048  # data this long is zlib-compressed, as RQ does; shorter stays plain (RQ reads both)
RETRY_VARIANTS = 64  # jittered retry-delay lists drawn per bulk call (see _RetryPool)

Build = Callable[[Mapping[str, Any] | None], dict[str, Any]]


@dataclass(frozen=True)
class BulkResult:
    """What a bulk enqueue did: how many jobs, their ids (in input order), the digest of their
    payloads (sha256 over each payload's JSON and a newline), where they went and how long it took."""

    job_type: str
    queue: str
    priority: str
    count: int
    ids: Sequence[str]
    digest: str
    seconds: float
    scheduled_for: datetime | None = None

    @property
    def first_id(self) -> str | None:
        return self.ids[0] if self.count else None

    @property
    def last_id(self) -> str | None:
        return self.ids[-1] if self.count else None

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


class JobIds(Sequence[str]):
    """Ids made for a bulk call, 16 random bytes each, read as uuid4 text (version 4, RFC variant)."""

    def __init__(self) -> None:
        self._raw = bytearray()

    def make(self, count: int) -> list[str]:
        raw = bytearray(os.urandom(16 * count))
        self._raw += raw
        return [_uuid_text(raw, 16 * i) for i in range(count)]

    def __len__(self) -> int:
        return len(self._raw) // 16

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(index)
        return _uuid_text(self._raw, 16 * index)

    def __iter__(self) -> Iterator[str]:
        raw = self._raw
        for at in range(0, len(raw), 16):
            yield _uuid_text(raw, at)


def _uuid_text(raw: bytes | bytearray, at: int) -> str:
    h = raw[at : at + 16].hex()
    variant = "89ab"[raw[at + 8] & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


class _RetryPool:
    """Retry delays are jittered per job so a burst of failures does not retry in lockstep. Drawing
    RETRY_VARIANTS lists once and picking one at random per job spreads them as well, for a fraction
    of the cost of drawing (and JSON-encoding) a list per job."""

    def __init__(self, policy: QueuePolicy) -> None:
        first = policy.retry_delays()
        self.left: int | str = len(first) if first else ""
        self.variants = (
            [json.dumps(first)] + [json.dumps(policy.retry_delays()) for _ in range(RETRY_VARIANTS - 1)]
            if first
            else [""]
        )

    def pick(self) -> str:
        return random.choice(self.variants)


def enqueue_rows(
    connection: redis.Redis,
    settings: Settings,
    job_type: str,
    rows: Iterable[Mapping[str, Any] | None],
    build: Build,
    *,
    describe: Callable[[dict[str, Any]], str] | None = None,
    priority: str | None = None,
    queue: str | None = None,
    description: str | None = None,
    when: datetime | None = None,
    job_ids: list[str] | None = None,
    meta: Mapping[str, Any] | None = None,
    on_progress: Progress | None = None,
    locate: Callable[[int], str] | None = None,
    total: int | None = None,
) -> BulkResult:
    """Build every row with `build` (the type's contract), then queue them all; see the module doc.

    `rows` is read once; `total` is how many it holds when it cannot say (a generator), for
    progress. `locate(n)` names row n (0-based) in an error ("customers.csv line 12"); without it
    a bad row is named by its number when there are several. `describe` gives a payload's
    description (a caller's `description` wins). `when` (aware UTC, from scheduled_time) schedules
    every job for that time. Raises InvalidPayload/UsageError for a bad row and TooMany past
    JOBCTL_MAX_BATCH before anything is queued; ServerFull says how many whole batches landed."""
    started = time.perf_counter()
    jt, policy, prio = check_target(settings, job_type, queue, priority)
    if job_ids is not None and len(set(job_ids)) != len(job_ids):
        raise UsageError("the same job id appears more than once", "give every job its own id")
    report = on_progress or ignore
    if total is None and isinstance(rows, Sized):
        total = len(rows)
    with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, mode="w+b") as spool:
        count, digest, described = _validate(
            job_type, settings, rows, build, spool, report, total, locate, describe
        )
        if count == 0:
            return BulkResult(jt.name, policy.name, prio, 0, [], digest, time.perf_counter() - started, when)
        if job_ids is not None:
            if len(job_ids) != count:
                raise UsageError(
                    f"{len(job_ids)} job ids for {count} jobs", "give one id per job, or none at all"
                )
            refuse_live_ids(connection, job_ids)
        if description is None:
            description = described or job_type
        spool.seek(0)
        filters = {"type": jt.name, "queue": policy.name, "priority": prio}
        if count > 1:
            filters["digest"] = digest
        filters["shape"] = audit.payload_shape(json.loads(spool.readline()))
        if when is not None:
            filters["scheduled_for"] = when.isoformat()
        spool.seek(0)
        landed = [0]
        try:
            ids = _push_spool(
                connection,
                settings,
                spool,
                count,
                jt,
                policy,
                prio,
                description,
                when,
                job_ids,
                meta,
                report,
                filters,
                landed,
            )
        except BaseException as exc:  # the batches that landed are on record, and why the rest did not
            if landed[0] == count:
                raise  # every batch landed, the record with the last (a replica WAIT failed after it)
            entry = audit.Entry("enqueue", f"{count:,} jobs", filters)
            audit.bulk_outcome(entry, landed[0], count - landed[0])
            entry.error = f"{entry.error}: {getattr(exc, 'message', None) or type(exc).__name__}"
            audit.record_quietly(connection, settings, entry)
            raise
    return BulkResult(
        jt.name, policy.name, prio, count, ids, digest, time.perf_counter() - started, scheduled_for=when
    )


def _validate(
    what: str,
    settings: Settings,
    rows: Iterable[Mapping[str, Any] | None],
    build: Build,
    spool: IO[bytes],
    report: Progress,
    total: int | None,
    locate: Callable[[int], str] | None,
    describe: Callable[[dict[str, Any]], str] | None,
) -> tuple[int, str, str | None]:
    """Pass 1: (rows, digest, the description every payload shares or None)."""
    limit = settings.max_batch
    digest = hashlib.sha256()
    dumps, write, update = json.dumps, spool.write, digest.update
    first = last = None
    count = 0
    report(0, total, "validating")
    for count, fields in enumerate(rows, 1):
        if count > limit:
            raise too_many(limit, what)
        try:
            payload = build(fields)
            text = dumps(payload, allow_nan=False).encode()
        except JobctlError as exc:
            raise _located(exc, count - 1, locate, total) from None
        except (TypeError, ValueError) as exc:
            raise _located(
                UsageError(f"payload is not JSON-serialisable: {exc}", JSON_HINT), count - 1, locate, total
            ) from None
        write(text)
        write(b"\n")  # JSON text holds no raw newline, so the spool is one payload a line
        update(text)
        update(b"\n")
        if describe is not None:
            if first is None:
                first = describe(payload)
            last = payload
        if count % VALIDATE_STEP == 0:
            report(count, total, "validating")
    report(count, count, "validating")
    shared = None
    if first is not None and last is not None and describe is not None:
        shared = first if count == 1 or describe(last) == first else None
    return count, digest.hexdigest(), shared


def _located(exc: JobctlError, index: int, locate: Callable[[int], str] | None, total: int | None):
    """The same error, naming the row when there is more than one to choose from."""
    where = locate(index) if locate is not None else (f"row {index + 1}" if total != 1 else None)
    if where is None:
        return exc
    return type(exc)(f"{where}: {exc.message}", exc.hint)


def _push_spool(
    connection: redis.Redis,
    settings: Settings,
    spool: IO[bytes],
    count: int,
    jt,
    policy: QueuePolicy,
    prio: str,
    description: str,
    when: datetime | None,
    job_ids: list[str] | None,
    meta: Mapping[str, Any] | None,
    report: Progress,
    filters: dict[str, Any],
    landed: list[int],
) -> Sequence[str]:
    """Pass 2: the spooled payloads onto the queue (or its scheduled registry), a batch per call;
    the last batch appends the call's audit entry (`filters`) in its own atomic step. `landed[0]`
    counts the jobs queued so far."""
    encrypted = encrypting()
    physical = policy.physical(prio)
    target = lifecycle.PhysicalQueue.of(physical)
    shared = shared_fields(job_data(jt, policy, prio, {}, description, None, encrypted, meta), physical)
    if when is not None:
        shared["status"] = "scheduled"
    retries = _RetryPool(policy)
    retrying = retries.left != ""
    if retrying:
        shared["retries_left"] = retries.left
    common = lifecycle.shared_json(shared)
    due = int(when.timestamp()) if when is not None else None
    job_prefix = keyspace.job_key_prefix()
    head = f"[{json.dumps(jt.func)}, null, [".encode()  # RQ's stored call: [func, instance, [payload], {}]
    tail = b"], {}]"
    made = JobIds() if job_ids is None else None
    ids: Sequence[str] = made if made is not None else job_ids or []
    # WAIT counts the writes sent on its own connection: pin one for the whole call
    pinned = connection.client() if settings.enqueue_replicas else None
    conn = pinned or connection

    def send(rows: list, size: int, before: int, entry: tuple | None = None) -> int:
        try:
            entry_id = lifecycle.push_rows(
                conn,
                target,
                common,
                size,
                rows,
                metrics.keys_at(policy.name, time.time()),
                metrics.TTLS,
                due,
                retrying,
                (audit.stream_key(), settings.audit_max_entries, entry[1]) if entry else None,
            )
        except redis.OutOfMemoryError:
            raise server_full(conn, not settings.redis_url, before, count) from None
        landed[0] = before + size
        if entry:
            audit.recorded(settings, entry[0], entry_id)
        if settings.enqueue_replicas:
            await_replicas(conn, settings.enqueue_replicas)
        return size

    # One batch in flight on a sender thread while this one lays out the next: Redis runs a batch's
    # script (~half of pass 2) while Python builds the next. The next is sent only after the one
    # before it landed, so a failure stops the call with every batch before it whole and none after.
    sender: ThreadPoolExecutor | None = None
    in_flight: Future[int] | None = None
    built = done = 0
    report(0, count, "enqueueing")
    lines = iter(spool)
    try:
        while built < count:
            datas: list[bytes] = []
            size = 0
            for line in lines:
                data = head + line[:-1] + tail
                if encrypted:
                    data = seal(data)
                elif len(data) > COMPRESS_ABOVE:
                    data = zlib.compress(data)
                datas.append(data)
                size += len(data)
                if len(datas) >= BATCH_MAX or size >= BATCH_BYTES:
                    break
            batch_ids = made.make(len(datas)) if made is not None else ids[built : built + len(datas)]
            rows: list = []
            for job_id, data in zip(batch_ids, datas, strict=True):
                rows += (job_prefix + job_id, data, retries.pick() if retrying else "")
            built += len(datas)
            if in_flight is not None:
                done += in_flight.result()
                in_flight = None
                report(done, count, "enqueueing")
            if built == count:  # the last (often the only) batch: no thread for it, and the record
                first, last = ids[0], batch_ids[-1]
                jobs = first if count == 1 else f"{first} .. {last}"
                doc, fields = audit.stored_form(audit.Entry("enqueue", jobs, filters, count=count))
                entry = (doc, [x for pair in fields.items() for x in pair])
                done += send(rows, len(datas), done, entry)
                report(done, count, "enqueueing")
            else:
                sender = sender or ThreadPoolExecutor(1, thread_name_prefix="jobctl-enqueue")
                in_flight = sender.submit(send, rows, len(datas), done)
    finally:
        if sender is not None:
            sender.shutdown(wait=True)  # a batch already sent lands (or fails) before this returns
        if pinned is not None:
            pinned.close()
    return ids


def enqueue(
    connection: redis.Redis,
    settings: Settings,
    job_type: str,
    payload: dict,
    *,
    priority: str | None = None,
    queue: str | None = None,
    description: str | None = None,
    job_id: str | None = None,
    at: datetime | None = None,
    delay: timedelta | float | None = None,
) -> str:
    """Enqueue one already-built payload; returns its id (`job_id` when given: letters, digits, '_'
    and '-'). `at` (timezone-aware) or `delay` (timedelta or seconds) schedules it instead: it waits
    in the queue's scheduled registry and the scheduler moves it onto the queue when due."""
    return enqueue_many(
        connection,
        settings,
        job_type,
        [payload],
        priority=priority,
        queue=queue,
        description=description,
        job_ids=[job_id] if job_id else None,
        at=at,
        delay=delay,
    )[0]


def enqueue_many(
    connection: redis.Redis,
    settings: Settings,
    job_type: str,
    payloads: Iterable[dict],
    *,
    priority: str | None = None,
    queue: str | None = None,
    description: str | None = None,
    on_progress: Progress | None = None,
    job_ids: list[str] | None = None,
    at: datetime | None = None,
    delay: timedelta | float | None = None,
    when: datetime | None = None,
    meta: Mapping[str, Any] | None = None,
) -> list[str]:
    """Enqueue payloads that are already built (jobctl.core.submit is the road that validates them);
    returns their ids in order. A batch lands whole or not at all; more than JOBCTL_MAX_BATCH is
    refused before any is queued. With `at`/`delay` (or `when`, from scheduled_time) every job is
    scheduled for that one time. `meta` adds to each job's meta (a schedule's name, say)."""
    if when is None:
        when = scheduled_time(at, delay)
    result = enqueue_rows(
        connection,
        settings,
        job_type,
        payloads,
        _as_given,
        priority=priority,
        queue=queue,
        description=description,
        when=when,
        job_ids=job_ids,
        meta=meta,
        on_progress=on_progress,
    )
    return list(result.ids)


def _as_given(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    return cast(dict[str, Any], payload)  # built by the caller's contract already
