"""The audit log: who changed what, from which face, with what outcome.

Every mutation an operator makes (retry, delete, clear, purge, replay, cancel, schedule changes,
pause/resume, token and key changes) is recorded by the core function that makes it, so no face
can forget to. The face only says who is acting (`acting_as`); library callers default to the OS
user with face "api".

Entries go to a Redis stream (append-only, trimmed approximately to JOBCTL_AUDIT_MAX_ENTRIES, and
of entries older than JOBCTL_AUDIT_MAX_AGE) and, when JOBCTL_AUDIT_FILE is set, one JSON line each
to that file too. A failed file write is logged,
never allowed to undo or fail the change it describes: the change has already happened.
"""

from __future__ import annotations

import contextvars
import getpass
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from redis.typing import EncodableT, FieldT

from jobctl.config import Settings
from jobctl.core import keyspace, runtime
from jobctl.core.redact import redact, redact_text
from jobctl.durations import BARE, HINT, grammar, seconds_of
from jobctl.errors import JobctlError, UsageError

log = logging.getLogger("jobctl.audit")

# web: the dashboard at /admin/jobs; scheduler and worker: what those processes do on their own
# (a schedule firing, a job queueing jobs, an alert email), so it is not put down to whoever
# started the process
FACES = ("cli", "tui", "http", "api", "web", "scheduler", "worker")
OUTCOMES = ("ok", "partial", "failed")
PAGE = 500
ENTRY_ID = re.compile(r"\d{1,20}-\d{1,20}")  # a stream id: milliseconds-sequence
# The age bound is applied by the writer that finds it due: at most once this often per process, so
# recording stays one XADD almost always, and a log written once a second still holds its bound
# within a minute. The trim rides in the same round trip as the XADD.
AGE_TRIM_EVERY = 60.0
SIZE_SAMPLES = 5  # MEMORY USAGE samples this many of the stream's nodes: O(1), an estimate

_age_trim = {"last": 0.0}  # monotonic time of this process's last age trim; 0: none yet


@dataclass(frozen=True)
class Actor:
    name: str
    face: str


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers): the uid still says who
        return f"uid:{os.getuid()}"


_current: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("jobctl_audit_actor", default=None)


def current_actor() -> Actor:
    return _current.get() or Actor(os_user(), "api")


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Attribute the mutations made inside this block (this thread or task) to `actor`."""
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)


@dataclass
class Entry:
    action: str
    target: str
    filters: dict[str, Any] = field(default_factory=dict)
    count: int | None = None
    outcome: str = "ok"
    error: str | None = None


def id_target(ids: list[str], shown: int = 10) -> str:
    """The target of a bulk action on jobs: the ids, the first `shown` of them for a long list."""
    ids = [str(i)[:100] for i in ids]
    if len(ids) <= shown:
        return ", ".join(ids)
    return ", ".join(ids[:shown]) + f" (+{len(ids) - shown} more)"


def bulk_outcome(entry: Entry, done: int, not_done: int) -> None:
    """ok when everything asked for was done, partial when some was, failed when none was."""
    entry.count = done
    if not_done:
        entry.outcome = "partial" if done else "failed"
        entry.error = f"{not_done} not done"


def stream_key() -> str:
    return f"{keyspace.JOBCTL}:audit"


def _utc_iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record(connection: redis.Redis, settings: Settings | None, entry: Entry) -> dict[str, Any]:
    """Append one entry; returns it as stored (with its stream id). Without `settings`, the
    process's runtime settings say how long the log is and whether a file gets a copy."""
    if settings is None:
        settings = runtime.settings()
    doc, fields = stored_form(entry)
    return recorded(settings, doc, _append(connection, settings, fields))


def stored_form(entry: Entry) -> tuple[dict[str, Any], dict[FieldT, EncodableT]]:
    """(the entry as listed, its stream fields), stamped with the acting user and the time now; for
    a caller that appends it in a step of its own (bulk enqueue: in the same script as its jobs)."""
    actor = current_actor()
    doc = {
        "time": _utc_iso(time.time()),
        "actor": actor.name,
        "face": actor.face,
        "action": entry.action,
        "target": entry.target,
        # the log is kept long and read widely: filters and errors (--error-contains text, a
        # message quoting an address) are stored redacted, like every face shows job data
        "filters": redact(entry.filters),
        "count": entry.count,
        "outcome": entry.outcome,
        "error": redact_text(entry.error) if entry.error else None,
    }
    fields: dict[FieldT, EncodableT] = {
        k: json.dumps(v) if k == "filters" else ("" if v is None else str(v)) for k, v in doc.items()
    }
    return doc, fields


def recorded(settings: Settings, doc: dict[str, Any], entry_id: Any) -> dict[str, Any]:
    """`doc` once appended as `entry_id`: with its id, and copied to JOBCTL_AUDIT_FILE when set."""
    doc["id"] = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    if settings.audit_file:
        _append_line(Path(settings.audit_file), doc)
    return doc


def payload_shape(value: Any, depth: int = 3) -> Any:
    """What a payload looks like without what it says: keys kept, every value replaced by its type
    (`str`, `int`, ...), lists by their length and their first item's shape. The audit log records
    this for an enqueue: payload values (addresses, amounts, names) never go there."""
    if isinstance(value, dict):
        if depth <= 0:
            return f"object[{len(value)}]"
        shown = list(value.items())[:SHAPE_KEYS]
        return {str(k)[:64]: payload_shape(v, depth - 1) for k, v in shown}
    if isinstance(value, list | tuple):
        if not value or depth <= 0:
            return f"list[{len(value)}]"
        return [f"list[{len(value)}]", payload_shape(value[0], depth - 1)]
    return "null" if value is None else type(value).__name__


SHAPE_KEYS = 50  # keys of one object shown in a payload's shape


def _append(connection: redis.Redis, settings: Settings, fields: dict[FieldT, EncodableT]) -> Any:
    """XADD bounded by count (MAXLEN ~; XADD takes one bound) and, when due, an XTRIM by age in the
    same round trip. Exact MINID: it removes only what is older (O(removed)), so no entry past the
    age is ever listed once a trim has run, where `~` would keep whole 100-entry nodes of them."""
    key = stream_key()
    now = time.monotonic()
    last = _age_trim["last"]
    if not settings.audit_max_age or (last and now - last < AGE_TRIM_EVERY):
        return connection.xadd(key, fields, maxlen=settings.audit_max_entries, approximate=True)
    _age_trim["last"] = now
    oldest_kept = max(0, int((time.time() - settings.audit_max_age) * 1000))
    with connection.pipeline(transaction=False) as pipe:
        pipe.xadd(key, fields, maxlen=settings.audit_max_entries, approximate=True)
        pipe.xtrim(key, minid=f"{oldest_kept}-0", approximate=False)
        added, _trimmed = pipe.execute()
    return added


def log_size(connection: redis.Redis) -> dict[str, Any]:
    """The log in Redis: `entries` (XLEN), `bytes` (MEMORY USAGE, sampled: an estimate; None where
    the server refuses MEMORY) and `oldest` (the first entry's time, ISO; None when empty). Three
    commands whatever the log's length, in one round trip."""
    with connection.pipeline(transaction=False) as pipe:
        add_size_reads(pipe)
        return size_of(pipe.execute(raise_on_error=False))


def add_size_reads(pipe: Any) -> None:
    """Queue `log_size`'s three reads on `pipe` (for callers that batch them with their own)."""
    key = stream_key()
    pipe.xlen(key)
    pipe.memory_usage(key, samples=SIZE_SAMPLES)
    pipe.xrange(key, count=1)


def size_of(results: list[Any]) -> dict[str, Any]:
    """`log_size` from the replies to `add_size_reads` (executed with raise_on_error=False: a
    server with MEMORY renamed away still answers the count). An error in the count or the oldest
    entry is raised: those are plain stream reads that must work."""
    length, memory, first = results
    for reply in (length, first):
        if isinstance(reply, Exception):
            raise reply
    if isinstance(memory, Exception):
        log.debug("MEMORY USAGE of the audit log refused: %s", memory)
        memory = None
    oldest = None
    if first:
        entry_id = first[0][0]
        millis = int((entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-")[0])
        oldest = _utc_iso(millis / 1000)
    return {"entries": int(length), "bytes": None if memory is None else int(memory), "oldest": oldest}


def _append_line(path: Path, doc: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: concurrent writers (workers, the CLI, serve) never interleave within a line
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(doc, ensure_ascii=False) + "\n").encode())
        finally:
            os.close(fd)
    except OSError as exc:
        log.warning("could not append to the audit file %s: %s", path, exc)


@contextmanager
def audited(
    connection: redis.Redis,
    settings: Settings | None,
    action: str,
    target: str,
    filters: dict[str, Any] | None = None,
) -> Iterator[Entry]:
    """Record `action` when the block ends: its count and outcome as the block set them, or
    "failed" with the error when it raised (and the error still propagates)."""
    entry = Entry(
        action, target, {k: v for k, v in (filters or {}).items() if v not in (None, False, [], ())}
    )
    try:
        yield entry
    except JobctlError as exc:
        entry.outcome, entry.error = "failed", exc.message
        record_quietly(connection, settings, entry)
        raise
    except (redis.ConnectionError, redis.TimeoutError):
        raise  # the log lives in the same server: nothing can be recorded
    except Exception as exc:
        entry.outcome, entry.error = "failed", f"{type(exc).__name__}: {exc}"
        record_quietly(connection, settings, entry)
        raise
    record(connection, settings, entry)


def record_quietly(connection: redis.Redis, settings: Settings | None, entry: Entry) -> None:
    try:
        record(connection, settings, entry)
    except redis.RedisError as exc:  # the original error matters more than the audit write's
        log.warning("could not record the audit entry for %s %s: %s", entry.action, entry.target, exc)


# --- reading ------------------------------------------------------------------------------------


def _decode(entry_id: Any, fields: dict) -> dict[str, Any]:
    text = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in fields.items()
    }
    count = text.get("count", "")
    return {
        "id": entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
        "time": text.get("time", ""),
        "actor": text.get("actor", ""),
        "face": text.get("face", ""),
        "action": text.get("action", ""),
        "target": text.get("target", ""),
        "filters": json.loads(text.get("filters") or "{}"),
        "count": int(count) if count.lstrip("-").isdigit() else None,
        "outcome": text.get("outcome", ""),
        "error": text.get("error") or None,
    }


def parse_since(text: str | None, now: float | None = None, *, name: str = "--since") -> float | None:
    """A duration back from now ('15m', '1h30m', '7d'; jobctl.durations) or an ISO time
    ('2026-11-29T06:00Z') -> epoch seconds. `name`: the option or parameter an error names."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            return (time.time() if now is None else now) - seconds_of(text)
        except ValueError:
            raise UsageError(
                f"{name} expects {grammar()} or an ISO time, got {text!r}",
                f"{HINT}{BARE}; or an ISO time such as 2026-11-29T06:00Z",
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # jobctl's times are UTC
    return moment.timestamp()


def list_entries(
    connection: redis.Redis,
    *,
    since: float | None = None,
    actor: str | None = None,
    action: str | None = None,
    face: str | None = None,
    limit: int = 100,
    before: str | None = None,
    job_type: str | None = None,
) -> list[dict[str, Any]]:
    """Newest first. `since` (epoch seconds) bounds the read by stream id, so a window costs what
    it holds, not the whole log; actor/action/face/job_type filters read newer-to-older in pages.
    `before`: only entries older than this entry id (the last id of the previous page).
    `job_type`: only entries whose filters name that job type (enqueue entries carry one)."""
    if limit < 1:
        raise UsageError("limit must be at least 1", "pass --limit 1 or more")
    if face is not None and face not in FACES:
        raise UsageError(f"unknown face {face!r}", f"use one of {', '.join(FACES)}")
    if before is not None:
        parts = before.split("-") if ENTRY_ID.fullmatch(before) else []
        if not parts or max(int(p) for p in parts) >= 2**64:
            raise UsageError(
                f"not an audit entry id: {before!r}", "pass the id of an entry, e.g. 1764400000000-0"
            )
        if all(int(p) == 0 for p in parts):
            return []  # nothing is older than the first possible id (and Redis refuses "(0-0")
    # a time before 1970 (an ISO year 1) would be a negative id, which Redis refuses
    low = f"{max(0, int(since * 1000))}-0" if since is not None else "-"
    high = f"({before}" if before is not None else "+"  # exclusive: the page after that entry
    found: list[dict[str, Any]] = []
    while len(found) < limit:
        # redis-py allows None for the reply and for an entry's fields (deleted entries in XCLAIM
        # replies); XREVRANGE returns a list of whole entries
        rows = connection.xrevrange(stream_key(), max=high, min=low, count=PAGE) or []
        for entry_id, fields in rows:
            doc = _decode(entry_id, fields or {})
            if actor is not None and doc["actor"] != actor:
                continue
            if action is not None and doc["action"] != action:
                continue
            if face is not None and doc["face"] != face:
                continue
            if job_type is not None and doc["filters"].get("type") != job_type:
                continue
            found.append(doc)
            if len(found) == limit:
                break
        if len(rows) < PAGE:
            break
        last = rows[-1][0].decode() if isinstance(rows[-1][0], bytes) else rows[-1][0]
        high = f"({last}"  # exclusive: continue just below the last id read
    return found
