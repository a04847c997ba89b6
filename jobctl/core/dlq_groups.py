"""Dead letters grouped by error fingerprint: how many died of the same failure, since when, where.

A *fingerprint* is the error's type and message with the parts that vary from job to job replaced
by placeholders (numbers, ids, uuids, hex, IPs and ports, emails, quoted values), so 500 jobs that
died of one failure make one group. Three-digit numbers from 100 to 599 standing on their own are
kept, as are dotted status codes such as 5.7.1 and a number right after errno, code, status, signal
or exit (Errno 111, exit code 137): they name the failure (SMTP 550 vs 421, HTTP 503), the part of
the message that tells two failures apart. A group is named by `fingerprint_id`, the
first 12 hex digits of the fingerprint's SHA-1.

The group index lives next to the entries and is changed in the same transaction or script as the
entry itself (`dlq.add`, the worker's finish script, replay), by the Lua functions in
GROUP_FUNCTIONS, or (purge, retention) by dlq's purge step, which makes the same changes for many ids
at once:

* `<prefix>:jobctl:dlqgroups:groups` - set of fingerprint ids;
* `...:dlqgroups:group:<id>:ids` - sorted set of the group's job ids scored by died-at time (count,
  first and last seen are ZCARD and its two ends);
* `...:dlqgroups:group:<id>` - hash of counts per queue (`q:<queue>`) and job type (`t:<type>`);
* `...:dlqgroups:grouped` - hash job id -> [fingerprint id, queue, type], so taking an entry out
  needs only its id (no entry read, no key to open a sealed message).

Adding removes the id from any group it was in first and only adds an id still in the dead-letter
index, so every step is idempotent: the backfill of entries written before this index existed may
run at the same time as workers and purges without skewing a count. Reading the groups costs
O(groups x (queues + types)): a few commands per group, never a read of every entry.

Neither the fingerprint nor the sample message is stored: both are read from the group's newest
entry (one GET per group), so with encryption on nothing personal sits in the index in the clear.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

import redis

from jobctl.core import keyspace, payloads
from jobctl.core.connection import decoded_members
from jobctl.core.payloads import EncryptedData
from jobctl.core.redact import redact
from jobctl.errors import UsageError

FINGERPRINT_LIMIT = 300
BACKFILL_BUDGET = 2000  # entries grouped per read while older entries are still being grouped
BACKFILL_PAGE = 200
FINGERPRINT_ID = re.compile(r"^[0-9a-f]{12}$")


def _prefix() -> str:
    return f"{keyspace.JOBCTL}:dlqgroups:"


def group_prefix() -> str:
    """The prefix of every group index key: what the Lua functions below are given as `gp`."""
    return _prefix()


def registry_key() -> str:
    return _prefix() + "groups"


def grouped_key() -> str:
    return _prefix() + "grouped"


def group_key(fingerprint_id: str) -> str:
    return f"{_prefix()}group:{fingerprint_id}"


def ids_key(fingerprint_id: str) -> str:
    return f"{group_key(fingerprint_id)}:ids"


def backfill_key() -> str:
    """'done', or the score (exclusive, '(<score>') the backfill of older entries resumes from."""
    return _prefix() + "backfill"


# --- fingerprints ------------------------------------------------------------------------------

# order matters: the specific shapes first, so an email's digits or an IP's dots are not numbers
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"'[^'\n]*'"), "'<str>'"),
    (re.compile(r'"[^"\n]*"'), '"<str>"'),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"), "<ip>"),
    (re.compile(r"\[[0-9a-fA-F:]*:[0-9a-fA-F:]+\](?::\d{1,5})?"), "<ip>"),  # [::1]:25
    (re.compile(r"(?<=[A-Za-z\]>]):\d{2,5}\b"), ":<port>"),  # host:8080
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    # ids: a word of 6+ characters mixing letters and digits (ord_12345, job-7f3k9x, A1B2C3)
    (re.compile(r"\b(?=[\w-]*[A-Za-z])(?=[\w-]*\d)[A-Za-z0-9][\w-]{5,}\b"), "<id>"),
)
_STATUS = re.compile(r"^(?:[1-5]\d\d|[245]\.\d{1,3}\.\d{1,3})$")  # 550, 421, 503, 5.7.1
# a whole number (1.5, 12,000), with a unit of up to 3 letters after it (30s, 12ms, 80%)
_NUMBER = re.compile(r"(?<![\w<.])[-+]?\d+(?:[.,]\d+)*(?![.,]?\d)(?=[A-Za-z%]{0,3}(?!\w))")
_SPACES = re.compile(r"\s+")


# a number right after one of these is a code that names the failure (Errno 111 vs 110, exit code 137)
_CODE_WORDS = re.compile(r"(?:errno|code|status|signal|exit)[ =:]?\[?$", re.IGNORECASE)


def _number(match: re.Match[str]) -> str:
    if _STATUS.match(match.group(0)) or _CODE_WORDS.search(
        match.string[max(0, match.start() - 8) : match.start()]
    ):
        return match.group(0)
    return "<n>"


def fingerprint(error_type: str, error_message: str) -> str:
    """The error with its varying parts as placeholders; status codes (100-599, 5.7.1) kept."""
    text = _SPACES.sub(" ", error_message or "").strip()
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    text = _NUMBER.sub(_number, text)
    return f"{error_type or 'Error'}: {text}"[:FINGERPRINT_LIMIT].rstrip()


def fingerprint_id(fingerprint_text: str) -> str:
    return hashlib.sha1(fingerprint_text.encode(), usedforsecurity=False).hexdigest()[:12]


def entry_fingerprint(entry: dict[str, Any]) -> str:
    """The fingerprint of a stored entry; an error message sealed with no key here groups by type."""
    try:
        message = payloads.open_fields(entry, ("error_message",)).get("error_message") or ""
    except EncryptedData:
        message = "(sealed: no encryption key here)"
    return fingerprint(entry.get("error_type") or "Error", message)


def check_fingerprint_id(value: str | None, name: str = "--fingerprint") -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not FINGERPRINT_ID.match(value):
        raise UsageError(
            f"invalid {name} {value!r}: 12 hex digits", "copy one from `jobctl dlq groups` (its first column)"
        )
    return value


# --- the index, kept by Lua functions ------------------------------------------------------------

# Used by the standalone scripts below and prepended to the worker's finish script (lifecycle.py).
GROUP_FUNCTIONS = r"""
local function dlq_ungroup(gp, id)
  local was = redis.call('HGET', gp .. 'grouped', id)
  if not was then return end
  local g = cjson.decode(was)
  redis.call('HDEL', gp .. 'grouped', id)
  local meta = gp .. 'group:' .. g[1]
  redis.call('ZREM', meta .. ':ids', id)
  if redis.call('HINCRBY', meta, 'q:' .. g[2], -1) <= 0 then redis.call('HDEL', meta, 'q:' .. g[2]) end
  if redis.call('HINCRBY', meta, 't:' .. g[3], -1) <= 0 then redis.call('HDEL', meta, 't:' .. g[3]) end
  if redis.call('ZCARD', meta .. ':ids') == 0 then
    redis.call('DEL', meta)
    redis.call('SREM', gp .. 'groups', g[1])
  end
end

-- an id not (or no longer) in the dead-letter index is not grouped: a backfill racing a purge
-- cannot bring a purged entry back into a count
local function dlq_group(gp, index, id, gid, queue, jtype)
  dlq_ungroup(gp, id)
  local died = redis.call('ZSCORE', index, id)
  if not died then return end
  local meta = gp .. 'group:' .. gid
  redis.call('HSET', gp .. 'grouped', id, cjson.encode({gid, queue, jtype}))
  redis.call('ZADD', meta .. ':ids', died, id)
  redis.call('HINCRBY', meta, 'q:' .. queue, 1)
  redis.call('HINCRBY', meta, 't:' .. jtype, 1)
  redis.call('SADD', gp .. 'groups', gid)
end
"""

_GROUP = (
    GROUP_FUNCTIONS
    + r"""
for i = 1, #ARGV, 4 do
  dlq_group(KEYS[1], KEYS[2], ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
end
"""
)
_UNGROUP = GROUP_FUNCTIONS + "for _, id in ipairs(ARGV) do dlq_ungroup(KEYS[1], id) end\n"


def group_record(entry: dict[str, Any]) -> dict[str, str]:
    """What the finish script needs to group a new entry (its fingerprint computed here)."""
    gid = fingerprint_id(entry_fingerprint(entry))
    return {"prefix": _prefix(), "gid": gid, "queue": entry["queue"], "type": str(entry["type"])}


def group(client: redis.Redis | redis.client.Pipeline, entries: list[dict[str, Any]]) -> None:
    """Put entries (plain or as stored) in their groups; on a pipeline, inside its transaction."""
    if not entries:
        return
    args: list[str] = []
    for entry in entries:
        gid = fingerprint_id(entry_fingerprint(entry))
        args += [entry["job_id"], gid, entry["queue"], str(entry["type"])]
    _script(client, _GROUP)(keys=[_prefix(), keyspace.dlq_index()], args=args, client=client)


def ungroup(client: redis.Redis | redis.client.Pipeline, job_ids: list[str]) -> None:
    """Take ids out of their groups; ids never grouped are skipped."""
    if job_ids:
        _script(client, _UNGROUP)(keys=[_prefix()], args=list(job_ids), client=client)


_SCRIPTS: dict[str, Any] = {}


def _script(client: Any, text: str):
    # a Script only hashes its text: one per text, run on whichever client or pipeline is given
    if text not in _SCRIPTS:
        _SCRIPTS[text] = redis.Redis().register_script(text)  # never connects by itself
    return _SCRIPTS[text]


# --- entries written before the index --------------------------------------------------------------


def backfill(connection: redis.Redis, budget: int | None = BACKFILL_BUDGET) -> bool:
    """Group entries written before the index existed, oldest first, at most `budget` of them (None:
    all); resumes where the last call stopped. True when every entry is grouped. Safe alongside
    workers and purges (every step is idempotent, see the module's docstring)."""
    state = connection.get(backfill_key())
    cursor = state.decode() if isinstance(state, bytes) else state
    if cursor == "done":
        return True
    cursor = cursor or "-inf"
    done = 0
    while budget is None or done < budget:
        page: list[tuple[bytes, float]] = list(
            connection.zrangebyscore(  # type: ignore[arg-type]
                keyspace.dlq_index(), cursor, "+inf", start=0, num=BACKFILL_PAGE, withscores=True
            )
        )
        if not page:
            connection.set(backfill_key(), "done")
            return True
        ids = decoded_members([member for member, _ in page])
        last = page[-1][1]
        if len(page) == BACKFILL_PAGE:  # the same died-at score may go on past this page: take it all
            ids += decoded_members(connection.zrangebyscore(keyspace.dlq_index(), last, last))
            ids = list(dict.fromkeys(ids))
        grouped = connection.hmget(grouped_key(), ids)
        todo = [i for i, g in zip(ids, grouped, strict=True) if g is None]
        raw = connection.mget([keyspace.dlq_entry(i) for i in todo]) if todo else []
        group(connection, [json.loads(doc) for doc in raw if doc])
        cursor = f"({last!r}"
        connection.set(backfill_key(), cursor)
        done += len(ids)
    return False


# --- reading --------------------------------------------------------------------------------------


def _iso(score: float | None) -> str | None:
    if score is None:
        return None
    return datetime.fromtimestamp(score, UTC).isoformat()


def list_groups(
    connection: redis.Redis,
    *,
    queue: str | None = None,
    floor: float = 0,
    reveal: bool = False,
) -> dict[str, Any]:
    """Groups, biggest first: fingerprint id and text, a sample (the newest entry's error, whole),
    count, first/last seen, counts per queue and job type. `queue`: only groups with entries from
    that queue; `floor`: only entries that died at or after this time are counted (first seen is
    then the oldest of those). Per-queue and per-type counts are over the whole group.

    Cost: the bounded backfill (see `backfill`), then O(groups x (queues + types)); no entry is read
    but one sample per group. `backfill_done` is False while older entries are still being grouped
    (their groups' counts are then short)."""
    backfill_done = backfill(connection, BACKFILL_BUDGET)
    gids = sorted(decoded_members(connection.smembers(registry_key())))
    with connection.pipeline(transaction=False) as pipe:
        for gid in gids:
            pipe.zcount(ids_key(gid), floor, "+inf")
            pipe.zrangebyscore(ids_key(gid), floor, "+inf", start=0, num=1, withscores=True)
            pipe.zrevrange(ids_key(gid), 0, 0, withscores=True)
            pipe.hgetall(group_key(gid))
        replies = pipe.execute()
    groups = []
    for n, gid in enumerate(gids):
        count, first, last, counts = replies[4 * n : 4 * n + 4]
        counts = {_text(k): int(v) for k, v in counts.items()}
        queues = {k[2:]: v for k, v in counts.items() if k.startswith("q:") and v > 0}
        if not count or not last or (queue and queue not in queues):
            continue
        groups.append(
            {
                "fingerprint_id": gid,
                "count": count,
                "first_seen": _iso(first[0][1]) if first else None,
                "last_seen": _iso(last[0][1]),
                "queues": dict(sorted(queues.items(), key=lambda kv: (-kv[1], kv[0]))),
                "types": dict(
                    sorted(
                        ((k[2:], v) for k, v in counts.items() if k.startswith("t:") and v > 0),
                        key=lambda kv: (-kv[1], kv[0]),
                    )
                ),
                "sample_job_id": _text(last[0][0]),
            }
        )
    samples = connection.mget([keyspace.dlq_entry(g["sample_job_id"]) for g in groups]) if groups else []
    for g, raw in zip(groups, samples, strict=True):
        entry = json.loads(raw) if raw else {}
        try:
            message = payloads.open_fields(entry, ("error_message",)).get("error_message") or ""
        except EncryptedData:
            message = "(sealed: no encryption key here)"
        error_type = entry.get("error_type") or "Error"
        g["error_type"] = error_type
        text = fingerprint(error_type, message)
        g["fingerprint"] = text if reveal else redact(text)
        g["sample_error"] = message if reveal else redact(message)
    groups.sort(key=lambda g: g["last_seen"] or "", reverse=True)
    groups.sort(key=lambda g: g["count"], reverse=True)  # stable: equal counts stay newest first
    return {
        "groups": groups,
        "total_groups": len(groups),
        "total_entries": connection.zcard(keyspace.dlq_index()),
        "backfill_done": backfill_done,
    }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
