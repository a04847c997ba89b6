"""Key rotation: everything jobctl stores encrypted, re-encrypted under the newest key.

`rotate` walks what can hold job data, found with SCAN (cursor based, TYPE-filtered, never KEYS)
and handled a batch at a time, one pipelined read and one pipelined write per batch:

* job hashes (`rq:job:ID`): data, meta, result (older RQ) and exc_info
* results streams (`rq:results:ID`): each entry's return_value and exc_string
* dead-letter entries: their sealed fields
* schedules: each one's data
* pending dead-letter alert summaries

A value under an older key is re-encrypted with the first key of JOBCTL_ENCRYPTION_KEYS; a
plaintext one (stored before encryption was turned on) is encrypted; plaintext that is not JSON
(another RQ application's pickles sharing the prefix) is left alone. Every write is a
compare-and-set in one Lua script: it lands only if every value it replaces is still what was
read, so a worker updating a job meanwhile is never overwritten; the item is read again instead,
up to RETRIES times.
"""

from __future__ import annotations

import json
import zlib
from base64 import b64decode, b64encode
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from jobctl.config import Settings
from jobctl.core import audit, keyspace, payloads
from jobctl.core.dlq import SEALED_FIELDS as DLQ_FIELDS
from jobctl.core.progress import Progress
from jobctl.errors import UsageError

BATCH = 200
RETRIES = 3
MAX_PROBLEMS = 50
STATUSES = ("reencrypted", "encrypted", "current", "skipped", "failed")
KINDS = ("jobs", "results", "dead_letters", "schedules", "alerts")

# KEYS[1]: a hash; ARGV: n, then n triples (field, value read, new value). All or nothing.
_HASH_CAS = """
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  if redis.call('HGET', KEYS[1], ARGV[2 + i * 3]) ~= ARGV[3 + i * 3] then return 0 end
end
for i = 0, n - 1 do
  redis.call('HSET', KEYS[1], ARGV[2 + i * 3], ARGV[4 + i * 3])
end
return 1
"""

# KEYS[1]: a string; ARGV: value read, new value (its expiry, if any, is kept)
_STRING_CAS = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
"""

# KEYS[1]: a stream; ARGV: last id read, length read, then per entry: id, n, n field/value pairs.
# Stream entries cannot be edited: the stream is rebuilt with the same ids and its expiry.
_STREAM_REWRITE = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last == 0 or last[1][1] ~= ARGV[1] or redis.call('XLEN', KEYS[1]) ~= tonumber(ARGV[2]) then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
local i = 3
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  local args = {KEYS[1], ARGV[i]}
  for j = 1, n * 2 do args[#args + 1] = ARGV[i + 1 + j] end
  redis.call('XADD', unpack(args))
  i = i + 2 + n * 2
end
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
"""


class Unopenable(Exception):
    """No key opens this value."""


class NotOurs(Exception):
    """Plaintext that is not JSON: not jobctl's to encrypt."""


@dataclass
class Keys:
    ring: Any  # MultiFernet: decrypts with any key, encrypts with the first
    primary: Any  # Fernet of the first key

    def classify(self, blob: bytes) -> tuple[str, bytes | None]:
        """(status, new value or None when it stays) for one serializer output or sealed text."""
        from cryptography.fernet import InvalidToken  # lazy: only `keys rotate` needs cryptography (~9 ms)

        if payloads.is_sealed(blob):
            try:
                self.primary.decrypt(blob)
                return "current", None
            except InvalidToken:
                pass
            try:
                return "reencrypted", self.ring.rotate(blob)
            except InvalidToken:
                raise Unopenable from None
        return "encrypted", self.ring.encrypt(blob)


def _merge(statuses: list[str]) -> str:
    for status in ("reencrypted", "encrypted"):
        if status in statuses:
            return status
    return "current"


def _is_json(blob: bytes) -> bool:
    try:
        json.loads(blob)
    except ValueError:
        return False
    return True


# --- one item of each kind: what to write, given what was read ----------------------------------


@dataclass
class Plan:
    status: str
    reason: str | None = None
    writes: list = field(default_factory=list)  # kind-specific CAS arguments


def _unzip(raw: bytes) -> bytes:
    try:
        return zlib.decompress(raw)
    except zlib.error:
        return raw  # RQ reads uncompressed data too


JOB_FIELDS = ("data", "meta", "result", "exc_info")
_ZIPPED = {"data", "exc_info"}


def _plan_job(k: Keys, values: list[bytes | None]) -> Plan:
    found = dict(zip(JOB_FIELDS, values, strict=True))
    if found["data"] is None:
        return Plan("skipped", "gone meanwhile")
    data = _unzip(found["data"])
    if not payloads.is_sealed(data) and not _is_json(data):
        return Plan("skipped", "not JSON job data (not a jobctl job)")
    statuses, writes = [], []
    for name, raw in found.items():
        if not raw:
            continue
        blob = _unzip(raw) if name in _ZIPPED else raw
        try:
            status, new = k.classify(blob)
        except Unopenable:
            return Plan("failed", f"its {name} is encrypted with a key that is not in {payloads.SETTING}")
        statuses.append(status)
        if new is not None:
            writes.append((name, raw, zlib.compress(new) if name in _ZIPPED else new))
    return Plan(_merge(statuses), writes=writes)


def _plan_results(k: Keys, entries: list[tuple[bytes, dict]]) -> Plan:
    if not entries:
        return Plan("skipped", "gone meanwhile")
    statuses, rebuilt, changed = [], [], False
    for entry_id, stored in entries:
        fields = dict(stored)
        for name in (b"return_value", b"exc_string"):
            if not fields.get(name):
                continue
            blob = b64decode(fields[name])
            if name == b"exc_string":
                blob = _unzip(blob)
            elif not payloads.is_sealed(blob) and not _is_json(blob):
                return Plan("skipped", "not JSON results (not a jobctl job)")
            try:
                status, new = k.classify(blob)
            except Unopenable:
                return Plan("failed", f"a result is encrypted with a key that is not in {payloads.SETTING}")
            statuses.append(status)
            if new is not None:
                fields[name] = b64encode(zlib.compress(new) if name == b"exc_string" else new)
                changed = True
        rebuilt.append((entry_id, fields))
    status = _merge(statuses)
    if not changed:
        return Plan(status)
    args: list = [entries[-1][0], len(entries)]
    for entry_id, fields in rebuilt:
        args += [entry_id, len(fields)]
        for name, value in fields.items():
            args += [name, value]
    return Plan(status, writes=args)


def _seal_value(k: Keys, value: Any) -> tuple[str, Any]:
    """(status, new value or None) for a JSON value that is either a sealed string or plaintext."""
    if isinstance(value, str) and payloads.is_sealed(value):
        status, new = k.classify(value.encode())
        return status, new.decode() if new is not None else None
    return "encrypted", k.ring.encrypt(json.dumps(value, default=str).encode()).decode()


def _plan_doc(k: Keys, raw: bytes | str | None, fields: tuple[str, ...], listed: bool) -> Plan:
    """A JSON document whose `fields` are, or become, sealed; `listed`: it names them under "sealed"
    (a dead-letter entry, see payloads.seal_fields) rather than telling them by shape (a schedule)."""
    if raw is None:
        return Plan("skipped", "gone meanwhile")
    doc = json.loads(raw)
    statuses, changed = [], False
    for name in fields:
        if name not in doc:
            continue
        try:
            status, new = _seal_value(k, doc[name])
        except Unopenable:
            return Plan("failed", f"its {name} is encrypted with a key that is not in {payloads.SETTING}")
        statuses.append(status)
        if new is not None:
            doc[name] = new
            changed = True
    if listed:
        doc[payloads.SEALED] = [n for n in fields if n in doc]
    if not changed:
        return Plan(_merge(statuses))
    return Plan(_merge(statuses), writes=[raw, json.dumps(doc, default=str)])


def _plan_text(k: Keys, raw: bytes | None) -> Plan:
    if raw is None:
        return Plan("skipped", "gone meanwhile")
    try:
        status, new = k.classify(raw)
    except Unopenable:
        return Plan("failed", f"encrypted with a key that is not in {payloads.SETTING}")
    return Plan(status, writes=[("last", raw, new)] if new is not None else [])


# --- walking the keyspace ----------------------------------------------------------------------


@dataclass
class Kind:
    name: str
    match: str
    type: str
    read: Callable[[Any, str], None]  # queues the read of one key on a pipeline
    plan: Callable[[Keys, Any], Plan]
    write: Callable[[Any, str, Plan], None]  # queues the CAS of one key on a pipeline


@dataclass
class Report:
    dry_run: bool
    keys: int
    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: {kind: dict.fromkeys(STATUSES, 0) for kind in KINDS}
    )
    problems: list[dict[str, str]] = field(default_factory=list)

    def add(self, kind: str, key: str, plan: Plan) -> None:
        self.counts[kind][plan.status] += 1
        if plan.reason and len(self.problems) < MAX_PROBLEMS:
            self.problems.append({"kind": kind, "key": key, "status": plan.status, "reason": plan.reason})

    def as_dict(self) -> dict[str, Any]:
        totals = {s: sum(c[s] for c in self.counts.values()) for s in STATUSES}
        return {
            "dry_run": self.dry_run,
            "keys": self.keys,
            "counts": self.counts,
            "totals": totals,
            "problems": self.problems,
        }


def _scan(connection: redis.Redis, match: str, type_: str) -> Iterator[list[str]]:
    batch: list[str] = []
    for key in connection.scan_iter(match=match, count=1000, _type=type_):
        batch.append(key.decode() if isinstance(key, bytes) else key)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class Rotation:
    def __init__(self, connection: redis.Redis, settings: Settings, dry_run: bool, progress: Progress | None):
        from cryptography.fernet import Fernet  # lazy: only `keys rotate` needs cryptography (~9 ms)

        key_list = tuple(settings.encryption_keys)
        self.connection = connection
        self.k = Keys(payloads.ring_for(key_list), Fernet(key_list[0]))
        self.dry_run = dry_run
        self.progress = progress
        self.stage = "checking" if dry_run else "re-encrypting"
        self.report = Report(dry_run, len(key_list))
        self.hash_cas = connection.register_script(_HASH_CAS)
        self.string_cas = connection.register_script(_STRING_CAS)
        self.stream_rewrite = connection.register_script(_STREAM_REWRITE)
        self.done = 0
        self.total = 0

    # the kinds: how each is found, read, planned and written
    def kinds(self) -> list[Kind]:
        hash_write = lambda pipe, key, plan: self._hash_write(pipe, key, plan.writes)  # noqa: E731
        return [
            Kind(
                "jobs",
                f"{keyspace.job_key_prefix()}*",
                "hash",
                lambda pipe, key: pipe.hmget(key, *JOB_FIELDS),
                _plan_job,
                hash_write,
            ),
            Kind(
                "results",
                f"{keyspace.results_key_prefix()}*",
                "stream",
                lambda pipe, key: pipe.xrange(key),
                _plan_results,
                lambda pipe, key, plan: self.stream_rewrite(keys=[key], args=plan.writes, client=pipe),
            ),
            Kind(
                "dead_letters",
                keyspace.dlq_entry("*"),
                "string",
                lambda pipe, key: pipe.get(key),
                lambda k, raw: _plan_doc(k, raw, DLQ_FIELDS, listed=True),
                lambda pipe, key, plan: self.string_cas(keys=[key], args=plan.writes, client=pipe),
            ),
            Kind(
                "alerts",
                keyspace.alert_pending("*"),
                "hash",
                lambda pipe, key: pipe.hget(key, "last"),
                _plan_text,
                hash_write,
            ),
        ]

    def _hash_write(self, pipe, key: str, writes: list) -> None:
        args: list = [len(writes)]
        for name, old, new in writes:
            args += [name, old, new]
        self.hash_cas(keys=[key], args=args, client=pipe)

    def count(self) -> int:
        total = sum(
            len(batch) for kind in self.kinds() for batch in _scan(self.connection, kind.match, kind.type)
        )
        return total + self.connection.hlen(keyspace.schedules())

    def tick(self, n: int) -> None:
        self.done += n
        self.total = max(self.total, self.done)
        if self.progress:
            self.progress(self.done, self.total, self.stage)

    def run(self) -> Report:
        self.total = self.count()
        if self.progress:
            self.progress(0, self.total, self.stage)
        for kind in self.kinds():
            for batch in _scan(self.connection, kind.match, kind.type):
                self._batch(kind, batch)
                self.tick(len(batch))
        self._schedules()
        return self.report

    def _read(self, kind: Kind, batch: list[str]) -> list:
        with self.connection.pipeline(transaction=False) as pipe:
            for key in batch:
                kind.read(pipe, key)
            return pipe.execute()

    def _batch(self, kind: Kind, batch: list[str]) -> None:
        pending = batch
        for _ in range(RETRIES):
            values = self._read(kind, pending)
            plans = {key: kind.plan(self.k, value) for key, value in zip(pending, values, strict=True)}
            to_write = [key for key, plan in plans.items() if plan.writes and not self.dry_run]
            for key, plan in plans.items():
                if key not in to_write:
                    self.report.add(kind.name, key, plan)
            if not to_write:
                return
            with self.connection.pipeline(transaction=False) as pipe:
                for key in to_write:
                    kind.write(pipe, key, plans[key])
                landed = pipe.execute()
            pending = []
            for key, ok in zip(to_write, landed, strict=True):
                if ok:
                    self.report.add(kind.name, key, plans[key])
                else:
                    pending.append(key)  # changed since it was read: read it again
            if not pending:
                return
        for key in pending:
            self.report.add(
                kind.name, key, Plan("failed", "kept changing while being re-encrypted; run again")
            )

    def _schedules(self) -> None:
        name_key = keyspace.schedules()
        names = [n.decode() if isinstance(n, bytes) else n for n in self.connection.hkeys(name_key)]
        for start in range(0, len(names), BATCH):
            pending = names[start : start + BATCH]
            for _ in range(RETRIES):
                raws = self.connection.hmget(name_key, pending) if pending else []
                plans = {n: _plan_doc(self.k, raw, ("data",), listed=False) for n, raw in zip(pending, raws)}
                to_write = [n for n, p in plans.items() if p.writes and not self.dry_run]
                for n, plan in plans.items():
                    if n not in to_write:
                        self.report.add("schedules", n, plan)
                with self.connection.pipeline(transaction=False) as pipe:
                    for n in to_write:
                        old, new = plans[n].writes
                        self._hash_write(pipe, name_key, [(n, old, new)])
                    landed = pipe.execute() if to_write else []
                pending = []
                for n, ok in zip(to_write, landed, strict=True):
                    if ok:
                        self.report.add("schedules", n, plans[n])
                    else:
                        pending.append(n)
                if not pending:
                    break
            for n in pending:
                self.report.add(
                    "schedules", n, Plan("failed", "kept changing while being re-encrypted; run again")
                )
            self.tick(min(BATCH, len(names) - start))


def rotate(
    connection: redis.Redis,
    settings: Settings,
    *,
    dry_run: bool = False,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Re-encrypt everything under the first key of JOBCTL_ENCRYPTION_KEYS; counts per kind and status.

    `on_progress(done, total, stage)` is called as items are handled (total is counted first, by SCAN).
    """
    if not settings.encryption_keys:
        raise UsageError(
            f"{payloads.SETTING} is not set: there is no key to rotate to",
            f"set {payloads.SETTING}=NEW,OLD (make NEW with `jobctl keys generate`), then rotate",
        )
    if dry_run:
        return Rotation(connection, settings, True, on_progress).run().as_dict()
    with audit.audited(
        connection, settings, "keys.rotate", "jobs", {"keys": len(settings.encryption_keys)}
    ) as entry:
        result = Rotation(connection, settings, False, on_progress).run().as_dict()
        totals = result["totals"]
        entry.count = totals["reencrypted"] + totals["encrypted"]
        if totals["failed"]:
            entry.outcome = "partial"
            entry.error = f"{totals['failed']} not re-encrypted"
    return result
