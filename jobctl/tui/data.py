"""The dashboard's reads, run in a worker thread. Every read costs O(1) in queue length: queue
counts (LLEN/ZCARD), the worker list, one page of one queue state, one job, one DLQ page (a
filtered one reads at most DLQ_SCAN entries, then says where it stopped), the DLQ's error groups
(O(groups)); a job search by type or recipient examines at most jobctl.core.search.SCAN_LIMIT jobs
and says so."""

from __future__ import annotations

from typing import Any

import redis

from jobctl.config import Settings
from jobctl.core import dlq, ops
from jobctl.core.browse import JOB_ID, job_detail, queue_jobs
from jobctl.core.catalog import DEAD_LETTER, queue_catalog
from jobctl.core.metrics import recent_series, window_stats
from jobctl.core.search import SCAN_LIMIT, SEARCH_STATES, STATUS_STATE, rows_now, search_jobs
from jobctl.core.stats import list_workers, oldest_waiting, queue_stats
from jobctl.errors import UsageError

PAGE = 50
DLQ_SCAN = 5000  # dead letters a filtered page reads at most per refresh; `n` searches on from there
SPARK_MINUTES = 30
WINDOW_MINUTES = 15  # throughput, error % and time quantiles on the main screen: the last 15 minutes


def series(connection: redis.Redis, queue: str) -> dict[str, list[int]]:
    """Per-minute completed/failed counts; empty when a metrics bug makes the read fail."""
    try:
        return recent_series(connection, queue, minutes=SPARK_MINUTES)
    except (redis.ConnectionError, redis.TimeoutError):
        raise
    except Exception:  # noqa: BLE001 - a metrics bug must not take the dashboard down
        return {"completed": [], "failed": []}


def window(connection: redis.Redis, queues: list[str]) -> dict[str, dict[str, Any]]:
    """Each queue's throughput, error rate and time quantiles over WINDOW_MINUTES (one HGETALL per
    minute bucket); empty when a metrics bug makes the read fail. Tests replace this."""
    try:
        return window_stats(connection, queues, WINDOW_MINUTES * 60)
    except (redis.ConnectionError, redis.TimeoutError):
        raise
    except Exception:  # noqa: BLE001 - a metrics bug must not take the dashboard down
        return {}


def oldest(connection: redis.Redis, settings: Settings) -> dict[str, float | None]:
    """How long each queue's oldest waiting job has waited, in seconds. Tests replace this."""
    return oldest_waiting(connection, settings)


def workers(connection: redis.Redis, settings: Settings) -> list[dict[str, Any]]:
    """Every registered worker, alive by the same rule as queue_stats' counts. Tests replace this."""
    return list_workers(connection, settings)


def read_main(connection: redis.Redis, settings: Settings) -> dict[str, Any]:
    """Per queue a fixed number of commands, whatever its length: counts, the heads of its lists,
    SPARK_MINUTES + WINDOW_MINUTES metric buckets; then one record per worker."""
    stats = queue_stats(connection, settings)
    runs = [q["queue"] for q in stats["queues"] if q["queue"] != DEAD_LETTER]  # it runs nothing
    return {
        "stats": stats,
        "paused": ops.paused_queues(connection),
        "workers": workers(connection, settings),
        "series": {name: series(connection, name) for name in runs},
        "window": window(connection, runs),
        "window_minutes": WINDOW_MINUTES,
        "oldest": oldest(connection, settings),
    }


def read_jobs(
    connection: redis.Redis, settings: Settings, queue: str, state: str, selected: str | None, offset: int = 0
) -> dict[str, Any]:
    page = queue_jobs(connection, settings, queue, state, offset, PAGE)
    row = next((j for j in page["jobs"] if j["id"] == selected), None)
    detail = _detail(connection, settings, selected, state, row)
    return {"page": page, "detail": detail, "paused": queue in ops.paused_queues(connection)}


def _detail(
    connection: redis.Redis,
    settings: Settings,
    selected: str | None,
    listed: str,
    row: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The selected job in full, read after the list it was picked from: with a `note` when it is no
    longer what that list says (it moved on meanwhile, or its id was a stale entry of the list)."""
    if not selected:
        return None
    try:
        detail = job_detail(connection, settings, selected)
    except Exception as exc:
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            raise
        return {"id": selected, "gone": str(getattr(exc, "message", exc))}
    note = listing_note(listed, row, detail["status"])
    if note:
        detail["note"] = note
    return detail


def listing_note(listed: str, row: dict[str, Any] | None, status: str) -> str | None:
    """What to say when a job's status now is not the state it was listed under (None: it is).

    `row` is the job's row as read with the list: if its status already disagreed, the list holds a
    stale entry (e.g. an id pushed twice: the first run finished it, workers drop the second)."""
    if row is None:
        return None
    same = {listed, "failed"} if listed == "dead" else {listed}  # a dead job's status is failed
    if STATUS_STATE.get(row["status"], row["status"]) not in same:
        return f"its id is still on the {listed} list, but the job is {row['status']}: a stale entry"
    if STATUS_STATE.get(status, status) not in same:
        return f"{status} since listed under {listed}"
    return None


SEARCH_SCAN = SCAN_LIMIT  # jobs a type/recipient search examines at most
SEARCH_SYNTAX = "JOB_ID | type:email | to:ann@example.com, + state:failed queue:all"
SEARCH_KEYS = {"type": "job_type", "to": "recipient", "state": "state", "queue": "queue"}


def parse_search(text: str, queue: str) -> dict[str, Any]:
    """The jobs screen's search box as search_jobs arguments: words `JOB_ID`, `type:<type>`,
    `to:<address or part of one>`, `state:<state>`, `queue:<name>` (`queue:all`: every queue).
    An id is found in any queue; a type or recipient search covers `queue` unless told otherwise."""
    query: dict[str, Any] = {}
    for word in text.split():
        key, colon, value = word.partition(":")
        if not colon:
            if "@" in word:  # an address typed alone: that recipient
                query["recipient"] = word
            elif JOB_ID.match(word):
                query["job_id"] = word
            else:
                raise UsageError(f"not a job id: {word!r}", f"search: {SEARCH_SYNTAX}")
            continue
        if key not in SEARCH_KEYS or not value:
            raise UsageError(f"cannot search by {word!r}", f"search: {SEARCH_SYNTAX}")
        query[SEARCH_KEYS[key]] = value
    if not query.keys() & {"job_id", "job_type", "recipient"}:
        raise UsageError("nothing to search for", f"search: {SEARCH_SYNTAX}")
    if query.get("state") is not None and query["state"] not in SEARCH_STATES:
        raise UsageError(f"unknown state {query['state']!r}", f"states: {', '.join(SEARCH_STATES)}")
    if query.get("queue") == "all" or ("job_id" in query and "queue" not in query):
        query["queue"] = None
    else:
        query.setdefault("queue", queue)
    return query


def read_search(
    connection: redis.Redis,
    settings: Settings,
    query: dict[str, Any],
    selected: str | None,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Search results (at most PAGE rows) and the selected one's detail. Given the `previous` results
    of the same query, their rows are read again as they are now (O(PAGE)), not searched anew: a scan
    runs once per search, not once per refresh."""
    if previous is None:
        found = search_jobs(connection, settings, **query, limit=PAGE, scan_limit=SEARCH_SCAN)
    else:
        found = {**previous, "jobs": rows_now(connection, settings, [j["id"] for j in previous["jobs"]])}
    row = next((j for j in found["jobs"] if j["id"] == selected), None)
    listed = row["state"] if row else ""
    return {"found": found, "detail": _detail(connection, settings, selected, listed, row)}


def search_summary(found: dict[str, Any]) -> str:
    """One line under the box: how many matched, and whether the scan was bounded."""
    matched = f"{len(found['jobs'])} match(es)"
    if found["by"] == "id" or found["complete"]:
        text = matched
    elif found["stopped"] == "limit":
        text = f"{matched} (the first {found['query']['limit']}; more may match)"
    else:
        text = (
            f"{matched} in the newest {found['scanned']:,} of {found['total']:,} jobs; "
            "narrow with state: or queue:"
        )
    if found["unreadable"]:
        text += f"; {found['unreadable']:,} encrypted job(s) skipped (no key here)"
    return text


def dlq_filters(settings: Settings, text: str) -> dict[str, str | None]:
    """The filter box: a queue name filters by queue, anything else by error text."""
    text = (text or "").strip()
    if not text:
        return {"queue": None, "error_contains": None}
    if text in queue_catalog(settings):
        return {"queue": text, "error_contains": None}
    return {"queue": None, "error_contains": text}


def read_dlq(
    connection: redis.Redis,
    settings: Settings,
    text: str,
    cursor: str | None,
    selected: str | None,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    """One page of dead letters matching the filter box and an error group (`fingerprint`), searched
    server side across every entry, at most DLQ_SCAN of them per read."""
    page = dlq.list_entries(
        connection,
        settings,
        limit=PAGE,
        cursor=cursor,
        fingerprint=fingerprint,
        scan_limit=DLQ_SCAN,
        **dlq_filters(settings, text),
    )
    entry = dlq.read_entry(connection, selected) if selected else None
    return {"page": page, "entry": entry}


def read_dlq_groups(connection: redis.Redis, settings: Settings) -> dict[str, Any]:
    """The dead letters grouped by error fingerprint (dlq.groups: O(groups))."""
    return dlq.groups(connection, settings)
