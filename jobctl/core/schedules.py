"""Recurring schedules: a cron expression in a timezone that enqueues one job type.

Schedules live in Redis so every scheduler process and every admin sees the same set:

* `keyspace.schedules()`      hash, name -> JSON document (definition plus run state)
* `keyspace.schedules_due()`  sorted set, name -> next run (UTC epoch seconds); `tick` reads what is due
* `keyspace.schedule_fired(name, occurrence)`  SET NX EX guard: an occurrence is enqueued at most once

Cron is evaluated on the schedule's local wall clock (not the server's), DST-correct: a time that a
spring-forward skips runs at the shifted time (02:30 -> 03:30) and a time a fall-back repeats runs once.
The scheduler process (jobctl.core.scheduler) calls `seed_defaults` when it becomes active and
`tick(connection, settings, now)` every second.

With JOBCTL_ENCRYPTION_KEYS set, a schedule's data (the payload of its jobs) is stored encrypted;
documents handed to faces show it decrypted and redacted ("[encrypted]" without a key for it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import redis
from croniter.croniter import CroniterError
from rq.job import Job

from jobctl.config import Settings
from jobctl.core import audit, keyspace, payloads, runtime, submit
from jobctl.core.catalog import check_priority, queue_catalog
from jobctl.core.connection import decoded_members
from jobctl.core.cron import as_aware, check_cron, check_tz, latest_run, next_runs
from jobctl.core.jobtypes import JOB_TYPES, TEST_ONLY, offered, test_only_refusal
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.redact import redact
from jobctl.core.schedule_tables import (
    check_data,
    check_job_type,
    check_missed,
    check_name,
    check_queue,
    toml_schedules,
)
from jobctl.errors import JobctlError, NotFound, UsageError

log = logging.getLogger("jobctl.schedules")

SOURCES = ("default", "jobctl.toml", "cli", "http")
GRACE_SECONDS = 60  # an occurrence later than this counts as missed (scheduler down, not just a slow tick)
GUARD_TTL = 7 * 86400

# name, cron, job type, data; all UTC. A schedule whose job type has no handler (one removed from
# JOB_TYPES, say) is stored and advanced by `tick` but never enqueued.
DEFAULTS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("daily-reports", "0 6 * * *", "daily-report", {}),
    ("weekly-reports", "0 8 * * 1", "weekly-report", {}),
    ("analytics-hourly", "5 * * * *", "analytics", {"type": "hourly"}),
    ("analytics-daily", "15 0 * * *", "analytics", {"type": "daily"}),
    ("analytics-weekly", "30 0 * * 1", "analytics", {"type": "weekly"}),
    ("analytics-monthly", "0 1 1 * *", "analytics", {"type": "monthly"}),
)

_ADD = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  return 1
end
return 0
"""

# Delete a stored schedule; for a catalogue name (ARGV[2] = 1) also mark it seeded, so that seed_defaults
# never stores it (again). Returns the deleted document, '' when only a not-yet-seeded catalogue entry
# was marked, nil when there was nothing to remove (unknown, or a default removed before).
_REMOVE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if raw then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  if ARGV[2] == '1' then redis.call('SADD', KEYS[3], ARGV[1]) end
  return raw
end
if ARGV[2] == '1' and redis.call('SADD', KEYS[3], ARGV[1]) == 1 then
  return ''
end
return false
"""

_warned_no_handler: set[str] = set()
_warned_test_only: set[str] = set()


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --------------------------------------------------------------------------------------------
# Definitions


def _document(
    name: str,
    cron: str,
    tz: str,
    job_type: str,
    data: dict,
    queue: str | None,
    priority: str | None,
    missed: str,
    source: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "name": name,
        "cron": cron,
        "tz": tz,
        "job_type": job_type,
        "data": data,
        "queue": queue,
        "priority": priority,
        "missed": missed,
        "paused": False,
        "source": source,
        "created_at": _iso(now.replace(microsecond=0)),
        "last_run_at": None,
        "last_occurrence": None,
        "last_job_id": None,
        "next_run_at": _iso(next_runs(cron, tz, now)[0]),
    }


def _validated(
    settings: Settings,
    name: str,
    cron: str,
    tz: str,
    job_type: str | None,
    data: Any,
    queue: str | None,
    priority: str | None,
    missed: str,
    source: str,
    now: datetime,
    check_type: bool = True,
) -> dict[str, Any]:
    check_name(name)
    cron = check_cron(cron)
    check_tz(tz)
    if check_type:
        job_type = check_job_type(job_type, settings)
    elif not job_type:
        raise UsageError("a schedule needs a job type", f"job types are: {', '.join(offered(settings))}")
    data = check_data(data)
    queue = check_queue(queue_catalog(settings), queue)
    priority = check_priority(priority)
    check_missed(missed)
    if source not in SOURCES:
        raise UsageError(f"invalid schedule source {source!r}", f"one of {', '.join(SOURCES)}")
    doc = _document(name, cron, tz, job_type, data, queue, priority, missed, source, now)
    if has_handler(job_type):
        # stored as the contract reads it (order_id=12 is the integer 12), and refused now if its job
        # could not run at the next occurrence, rather than dead-lettering then, at 3 a.m.
        doc["data"] = submit.normalized(job_type, data)
        submit.prepare(settings, job_type, doc["data"], occurrence=_parse(doc["next_run_at"]))
    return doc


def _at_rest(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "data": payloads.seal_json(doc.get("data") or {})}


def shown(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document as faces show it: data decrypted and redacted."""
    try:
        data = redact(payloads.open_json(doc.get("data")))
    except payloads.EncryptedData:
        data = "[encrypted]"
    return {**doc, "data": data}


def _store_new(connection: redis.Redis, doc: dict[str, Any]) -> bool:
    """Atomically store a schedule unless the name exists; True when stored."""
    return bool(
        connection.eval(
            _ADD,
            2,
            keyspace.schedules(),
            keyspace.schedules_due(),
            doc["name"],
            json.dumps(_at_rest(doc)),
            _parse(doc["next_run_at"]).timestamp(),
        )
    )


def add_schedule(
    connection: redis.Redis,
    settings: Settings,
    name: str,
    cron: str,
    tz: str = "UTC",
    job_type: str | None = None,
    data: dict | None = None,
    queue: str | None = None,
    priority: str | None = None,
    missed: str = "once",
    source: str = "cli",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Validate and store a new schedule (UsageError, nothing stored, on any bad input or a taken name)."""
    with audit.audited(
        connection,
        settings,
        "schedule.add",
        name,
        {"cron": cron, "tz": tz, "job_type": job_type, "queue": queue},
    ) as entry:
        doc = _validated(
            settings, name, cron, tz, job_type, data, queue, priority, missed, source, as_aware(now)
        )
        if not _store_new(connection, doc):
            raise UsageError(
                f"schedule {name!r} exists",
                f"remove it first (jobctl schedule remove {name}) or pick another name",
            )
        entry.count = 1
    return doc


def get_schedule(connection: redis.Redis, name: str) -> dict[str, Any]:
    raw = connection.hget(keyspace.schedules(), name)
    if raw is None:
        raise NotFound(f"no schedule {name!r}", "see jobctl schedule list")
    return json.loads(raw)


def remove_schedule(connection: redis.Redis, name: str, settings: Settings | None = None) -> dict[str, Any]:
    """Delete a schedule; returns its last document (with `seeded`). NotFound when there is none.

    A name from the catalogue (a default or a jobctl.toml schedule) is remembered as seeded, so no
    scheduler stores it again; that is also how a default is removed before any scheduler seeded it.
    Without `settings`, the process's runtime settings say what the catalogue holds. (Removing a
    default at the very moment a scheduler seeds it can answer NotFound; it is then stored, and a
    second remove deletes it.)
    """
    if settings is None:
        settings = runtime.settings()
    with audit.audited(connection, settings, "schedule.remove", name) as entry:
        catalogue = default_definitions(settings)
        raw = connection.eval(
            _REMOVE,
            3,
            keyspace.schedules(),
            keyspace.schedules_due(),
            _seeded_key(),
            name,
            int(name in catalogue),
        )
        if raw is None:
            raise NotFound(f"no schedule {name!r}", "see jobctl schedule list")
        entry.count = 1
        if raw in (b"", ""):
            entry.filters["not_yet_seeded"] = True
            return _pending_row(name, catalogue[name], as_aware(None))
    return {**shown(json.loads(raw)), "seeded": True}


def _update(
    connection: redis.Redis, name: str, change: Mapping[str, Any], expect_next: str | None = None
) -> dict[str, Any] | None:
    """Apply `change` to a stored schedule (optimistic WATCH); None if it was removed meanwhile.

    With `expect_next`, next_run_at is only moved if nobody else (another scheduler, a resume) moved
    it since it was read.
    """
    h, due = keyspace.schedules(), keyspace.schedules_due()
    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(h)
                raw = pipe.hget(h, name)
                if raw is None:
                    pipe.unwatch()
                    return None
                doc = json.loads(raw)
                updates = dict(change)
                if expect_next is not None and doc.get("next_run_at") != expect_next:
                    updates.pop("next_run_at", None)
                doc.update(updates)
                pipe.multi()
                pipe.hset(h, name, json.dumps(doc))
                pipe.zadd(due, {name: _parse(doc["next_run_at"]).timestamp()})
                pipe.execute()
                return doc
            except redis.WatchError:
                continue


def pause_schedule(connection: redis.Redis, name: str) -> dict[str, Any]:
    """Stop firing (occurrences pass silently); returns the document with `changed`."""
    with audit.audited(connection, None, "schedule.pause", name) as entry:
        was = get_schedule(connection, name)["paused"]
        doc = _update(connection, name, {"paused": True})
        if doc is None:
            raise NotFound(f"no schedule {name!r}", "see jobctl schedule list")
        entry.count = int(not was)
    return {**shown(doc), "changed": not was}


def resume_schedule(connection: redis.Redis, name: str, now: datetime | None = None) -> dict[str, Any]:
    """Fire again from the next occurrence after now (what passed while paused is not caught up)."""
    with audit.audited(connection, None, "schedule.resume", name) as entry:
        current = get_schedule(connection, name)
        nxt = next_runs(current["cron"], current["tz"], as_aware(now))[0]
        change: dict[str, Any] = {"paused": False}
        if current["paused"]:
            change["next_run_at"] = _iso(nxt)
        doc = _update(connection, name, change)
        if doc is None:
            raise NotFound(f"no schedule {name!r}", "see jobctl schedule list")
        entry.count = int(bool(current["paused"]))
    return {**shown(doc), "changed": bool(current["paused"])}


def has_handler(job_type: str) -> bool:
    return job_type in JOB_TYPES


def _job_statuses(connection: redis.Redis, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    jobs = Job.fetch_many(ids, connection=connection, serializer=PayloadSerializer)
    out = {}
    for job_id, job in zip(ids, jobs):
        if job is None:
            out[job_id] = "gone"
        else:
            status = job.get_status(refresh=False)
            out[job_id] = getattr(status, "value", status) or "unknown"
    return out


def _seeded_key() -> str:
    """The set of catalogue names ever seeded (or removed before seeding): seed_defaults skips them."""
    return f"{keyspace.schedules()}:seeded"


def _pending_row(name: str, spec: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A catalogue definition no scheduler has stored yet, as a stored document would look (never run)."""
    doc = _document(
        name,
        spec["cron"],
        spec["tz"],
        spec["job_type"],
        dict(spec["data"] or {}),
        spec["queue"],
        spec["priority"],
        spec["missed"],
        spec["source"],
        now,
    )
    return {**shown(doc), "created_at": None, "seeded": False}


def _not_yet_seeded(settings: Settings, stored: set[str], seeded: set) -> dict[str, dict[str, Any]]:
    taken = stored | {n.decode() if isinstance(n, bytes) else n for n in seeded}
    return {name: spec for name, spec in default_definitions(settings).items() if name not in taken}


def pending_defaults(connection: redis.Redis, settings: Settings) -> dict[str, dict[str, Any]]:
    """The catalogue's definitions (defaults, jobctl.toml) neither stored nor ever seeded: what the next
    active scheduler will store. One an admin removed (after or before seeding) is not here."""
    with connection.pipeline() as pipe:  # MULTI: both sets from one moment
        pipe.hkeys(keyspace.schedules())
        pipe.smembers(_seeded_key())
        stored, seeded = pipe.execute()
    return _not_yet_seeded(settings, {n.decode() if isinstance(n, bytes) else n for n in stored}, seeded)


def listed_schedule(connection: redis.Redis, settings: Settings, name: str) -> dict[str, Any]:
    """One schedule as `list_schedules` shows it: stored, or a catalogue entry not yet seeded (NotFound
    if neither)."""
    raw = connection.hget(keyspace.schedules(), name)
    if raw is not None:
        return {**shown(json.loads(raw)), "seeded": True}
    pending = pending_defaults(connection, settings)
    if name not in pending:
        raise NotFound(f"no schedule {name!r}", "see jobctl schedule list")
    return _pending_row(name, pending[name], as_aware(None))


def _upcoming(doc: Mapping[str, Any], now: datetime) -> list[dict[str, str | None]]:
    try:
        zone = check_tz(doc["tz"])
        return [
            {"utc": _iso(t), "local": t.astimezone(zone).isoformat()}
            for t in next_runs(doc["cron"], zone, now, 3)
        ]
    except (UsageError, CroniterError, ValueError):
        return []


def schedule_names(connection: redis.Redis, settings: Settings) -> list[str]:
    """Every schedule's name, sorted: the built-in and jobctl.toml ones (stored or not yet seeded) and
    the stored ones (one HKEYS)."""
    names = set(default_definitions(settings))
    names.update(decoded_members(connection.hkeys(keyspace.schedules())))
    return sorted(names)


def _stored_row(doc: dict[str, Any], now: datetime, statuses: Mapping[str, str]) -> dict[str, Any]:
    """A stored schedule as `schedule list` shows it; `statuses`: last job id -> its status."""
    stored_next = _parse(doc["next_run_at"]) if doc.get("next_run_at") else None
    return {
        **shown(doc),
        "seeded": True,
        "handler": has_handler(doc["job_type"]),
        "next_runs": _upcoming(doc, now),
        "overdue": bool(
            stored_next and not doc["paused"] and (now - stored_next).total_seconds() > GRACE_SECONDS
        ),
        "last_job_status": statuses.get(doc["last_job_id"]) if doc.get("last_job_id") else None,
    }


def _pending_listed(name: str, spec: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A catalogue definition not yet seeded as `schedule list` shows it."""
    row = _pending_row(name, spec, now)
    return {
        **row,
        "handler": has_handler(row["job_type"]),
        "next_runs": _upcoming(row, now),
        "overdue": False,
        "last_job_status": None,
    }


def list_schedules(connection: redis.Redis, settings: Settings, now: datetime | None = None) -> list[dict]:
    """Every schedule, by name, with its next 3 runs (UTC and local) and its last job's status.

    The catalogue's defaults that no scheduler has stored yet are listed too, with `seeded` false
    (stored ones have it true): they are what a scheduler will run once it starts, so an admin sees
    them (and can remove them) from the start.
    """
    now = as_aware(now)
    with connection.pipeline() as pipe:  # MULTI: the stored and the seeded names from one moment
        pipe.hvals(keyspace.schedules())
        pipe.smembers(_seeded_key())
        raws, seeded = pipe.execute()
    docs = [json.loads(raw) for raw in raws]
    statuses = _job_statuses(connection, [d["last_job_id"] for d in docs if d.get("last_job_id")])
    rows = [_stored_row(doc, now, statuses) for doc in docs]
    for name, spec in _not_yet_seeded(settings, {d["name"] for d in docs}, seeded).items():
        rows.append(_pending_listed(name, spec, now))
    return sorted(rows, key=lambda r: r["name"])


def schedule_row(
    connection: redis.Redis, settings: Settings, name: str, now: datetime | None = None
) -> dict[str, Any]:
    """One schedule exactly as `list_schedules` shows it, read alone (one HGET and its last job, or
    the catalogue); NotFound when there is no such schedule, stored or pending."""
    now = as_aware(now)
    raw = connection.hget(keyspace.schedules(), name)
    if raw is not None:
        doc = json.loads(raw)
        last = [doc["last_job_id"]] if doc.get("last_job_id") else []
        return _stored_row(doc, now, _job_statuses(connection, last))
    pending = pending_defaults(connection, settings)
    if name not in pending:
        raise NotFound(f"no schedule {name!r}", "see jobctl schedule list")
    return _pending_listed(name, pending[name], now)


@contextmanager
def stored_only(connection: redis.Redis, settings: Settings, name: str) -> Iterator[None]:
    """Around run, pause and resume, which act on stored schedules: a NotFound for a default that
    `list_schedules` shows as not yet seeded says so, instead of a bare "no schedule"."""
    try:
        yield
    except NotFound:
        if name in pending_defaults(connection, settings):
            raise NotFound(
                f"schedule {name!r} is not yet seeded",
                "the first scheduler to start stores it: jobctl scheduler start",
            ) from None
        raise


# --------------------------------------------------------------------------------------------
# Firing


def _enqueue(
    connection: redis.Redis,
    settings: Settings,
    doc: dict,
    occurrence: datetime,
    job_id: str,
    manual: bool = False,
) -> str:
    fields = payloads.open_json(doc.get("data")) or {}
    facts: dict[str, Any] = {"schedule": doc["name"], "occurrence": _iso(occurrence)}  # meta, not payload
    if manual:
        facts["manual"] = True
    return submit.submit(
        connection,
        settings,
        doc["job_type"],
        fields,
        priority=doc.get("priority"),
        queue=doc.get("queue"),
        job_id=job_id,
        meta=facts,
        occurrence=occurrence,
    )


def run_now(connection: redis.Redis, settings: Settings, name: str, now: datetime | None = None) -> str:
    """Enqueue the schedule's job immediately (its own id; the regular occurrences are unaffected)."""
    now = as_aware(now)
    with audit.audited(connection, settings, "schedule.run", name) as entry:
        doc = get_schedule(connection, name)
        if not has_handler(doc["job_type"]):
            raise UsageError(
                f"schedule {name!r} runs job type {doc['job_type']!r}, which has no handler yet",
                f"job types with handlers: {', '.join(offered(settings))}",
            )
        job_id = f"sched-{name}-manual-{int(now.timestamp() * 1000)}"
        _enqueue(connection, settings, doc, now.replace(microsecond=0), job_id, manual=True)
        _update(connection, name, {"last_run_at": _iso(now.replace(microsecond=0)), "last_job_id": job_id})
        entry.count = 1
        entry.filters["job_id"] = job_id
    return job_id


def tick(connection: redis.Redis, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Fire every due schedule once; returns one record per due schedule (action fired, missed-skip,
    paused, no-handler, test-only, duplicate or error). Safe to call from several schedulers at once."""
    now = as_aware(now)
    names = decoded_members(connection.zrangebyscore(keyspace.schedules_due(), "-inf", now.timestamp()))
    results = []
    for name in names:
        raw = connection.hget(keyspace.schedules(), name)
        if raw is None:
            _drop_orphan(connection, name)
            continue
        try:
            doc = json.loads(raw)
            if _parse(doc["next_run_at"]) > now:
                continue  # another scheduler advanced it after we read the due set: not due any more
            with audit.acting_as(audit.Actor(f"schedule:{name}", "scheduler")):  # who queued its job
                results.append(_fire(connection, settings, doc, now))
        except (redis.ConnectionError, redis.TimeoutError):
            raise
        except Exception as exc:  # one broken schedule must not stop the others; retry it in a minute
            log.exception("schedule %s: tick failed", name)
            connection.zadd(keyspace.schedules_due(), {name: now.timestamp() + 60})
            results.append({"name": name, "action": "error", "error": f"{type(exc).__name__}: {exc}"})
    return results


def _drop_orphan(connection: redis.Redis, name: str) -> None:
    with connection.pipeline() as pipe:
        try:
            pipe.watch(keyspace.schedules())
            if not pipe.hexists(keyspace.schedules(), name):
                pipe.multi()
                pipe.zrem(keyspace.schedules_due(), name)
                pipe.execute()
            else:
                pipe.unwatch()
        except redis.WatchError:
            pass


def _fire(connection: redis.Redis, settings: Settings, doc: dict, now: datetime) -> dict[str, Any]:
    name, cron, zone = doc["name"], doc["cron"], check_tz(doc["tz"])
    read_next = doc["next_run_at"]
    scheduled = _parse(read_next)
    missed = (now - scheduled).total_seconds() > GRACE_SECONDS
    if missed or doc["paused"]:
        occurrence = max(latest_run(cron, zone, now), scheduled)
        following = next_runs(cron, zone, now)[0]
    else:
        occurrence = scheduled
        following = next_runs(cron, zone, scheduled)[0]
    record: dict[str, Any] = {
        "name": name,
        "occurrence": _iso(occurrence),
        "missed": missed,
        "job_id": None,
        "next_run_at": _iso(following),
    }

    def advance(action: str, **change: Any) -> dict[str, Any]:
        _update(connection, name, {"next_run_at": _iso(following), **change}, expect_next=read_next)
        return {**record, "action": action}

    if doc["paused"]:
        return advance("paused")
    if not has_handler(doc["job_type"]):
        if name not in _warned_no_handler:
            _warned_no_handler.add(name)
            log.warning(
                "schedule %s: job type %r has no handler yet; not enqueueing (logged once)",
                name,
                doc["job_type"],
            )
        return advance("no-handler")
    if doc["job_type"] in TEST_ONLY and not settings.test_job_types:
        # stored while JOBCTL_TEST_JOB_TYPES was on (or before it existed): kept, so turning the setting
        # on brings it back, but never enqueued, and not an error every occurrence
        refusal = test_only_refusal(doc["job_type"])
        if name not in _warned_test_only:
            _warned_test_only.add(name)
            log.warning(
                "schedule %s: %s; not enqueueing (%s; logged once)", name, refusal.message, refusal.hint
            )
        return {**advance("test-only"), "error": refusal.message}
    if missed and doc.get("missed", "once") == "skip":
        log.info("schedule %s: skipped missed occurrence %s (missed = skip)", name, _iso(occurrence))
        return advance("missed-skip")
    # without a key for the data, fail before the occurrence is claimed: tick retries in a minute
    doc = {**doc, "data": payloads.open_json(doc.get("data"))}
    stamp = int(occurrence.timestamp())
    if not connection.set(keyspace.schedule_fired(name, stamp), 1, nx=True, ex=GUARD_TTL):
        return advance("duplicate")  # another scheduler (or this one before a crash) already fired it
    job_id = f"sched-{name}-{stamp}"
    try:
        _enqueue(connection, settings, doc, occurrence, job_id)
    except JobctlError as exc:  # e.g. its queue override vanished from jobctl.toml: do not retry every second
        log.error("schedule %s: could not enqueue %s: %s", name, _iso(occurrence), exc.message)
        return {**advance("error"), "error": exc.message}
    record["job_id"] = job_id
    return advance(
        "fired",
        last_run_at=_iso(now.replace(microsecond=0)),
        last_occurrence=_iso(occurrence),
        last_job_id=job_id,
    )


# --------------------------------------------------------------------------------------------
# Defaults and jobctl.toml


def default_definitions(settings: Settings) -> dict[str, dict[str, Any]]:
    """Built-in schedules, then jobctl.toml's [schedules.NAME] tables (which win on a shared name)."""
    defs: dict[str, dict[str, Any]] = {
        name: {
            "cron": cron,
            "tz": "UTC",
            "job_type": job,
            "data": dict(data),
            "queue": None,
            "priority": None,
            "missed": "once",
            "source": "default",
        }
        for name, cron, job, data in DEFAULTS
    }
    for name, spec in toml_schedules(settings).items():
        defs[name] = {**spec, "source": "jobctl.toml"}
    return defs


def seed_defaults(connection: redis.Redis, settings: Settings, now: datetime | None = None) -> list[str]:
    """Store the built-in and jobctl.toml schedules seen for the first time; returns the names added.

    Each name is seeded once ever: an existing schedule is never overwritten (admin edits survive),
    and one an admin removed does not come back when the next scheduler takes over.
    """
    now = as_aware(now)
    added = []
    seeded = f"{keyspace.schedules()}:seeded"
    for name, spec in default_definitions(settings).items():
        if not connection.sadd(seeded, name) or connection.hexists(keyspace.schedules(), name):
            continue
        source = spec["source"]
        doc = _validated(
            settings,
            name,
            spec["cron"],
            spec["tz"],
            spec["job_type"],
            spec["data"],
            spec["queue"],
            spec["priority"],
            spec["missed"],
            source,
            now,
            check_type=source != "default",
        )
        if _store_new(connection, doc):
            added.append(name)
    return added


# --------------------------------------------------------------------------------------------
# Create or update (the HTTP API's PUT-like POST /api/jobs/schedule)


def put_schedule(
    connection: redis.Redis,
    settings: Settings,
    name: str,
    cron: str,
    tz: str = "UTC",
    job_type: str | None = None,
    data: dict | None = None,
    queue: str | None = None,
    priority: str | None = None,
    missed: str = "once",
    source: str = "http",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Store a schedule under `name`, replacing the definition of an existing one; returns the
    document with `created`. An update keeps the run state (paused, last run) and moves the next
    run to the new cron's next occurrence. Audited as schedule.add or schedule.update."""
    with audit.audited(
        connection,
        settings,
        "schedule.update",
        name,
        {"cron": cron, "tz": tz, "job_type": job_type, "queue": queue},
    ) as entry:
        doc = _validated(
            settings, name, cron, tz, job_type, data, queue, priority, missed, source, as_aware(now)
        )
        stored = _at_rest(doc)  # data encrypted when keys are set
        change = {
            k: stored[k]
            for k in (
                "cron",
                "tz",
                "job_type",
                "data",
                "queue",
                "priority",
                "missed",
                "source",
                "next_run_at",
            )
        }
        while True:  # each step is atomic; a remove (or add) racing between them sends us round again
            created = _store_new(connection, doc)
            if created:
                break
            updated = _update(connection, name, change)
            if updated is not None:
                doc = updated
                break
        if created:
            entry.action = "schedule.add"
        entry.count = 1
    return {**shown(doc), "created": created}
