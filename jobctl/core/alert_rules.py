"""Alert rules over queues and workers: evaluated every few seconds, told on firing and on resolving.

Rules (thresholds in settings; 0 or false turns one off):
    error_rate       failed attempts / finished attempts over 5 minutes > JOBCTL_ALERT_ERROR_RATE %,
                     with at least JOBCTL_ALERT_MIN_VOLUME finished
    queue_size       waiting jobs > JOBCTL_ALERT_QUEUE_SIZE
    oldest_waiting   the oldest waiting job has waited > JOBCTL_ALERT_OLDEST_WAIT
    no_worker        waiting jobs and no live worker on the queue (JOBCTL_ALERT_NO_WORKER; live: the
                     heartbeat rule of jobctl.core.liveness, as every face counts workers)
    worker_died      a worker vanished without a clean shutdown (its key expired, no `death` mark)

State lives in Redis (one hash, one field per rule and subject): a rule notifies when it starts
firing and when it resolves (a resolving says the value now, with its threshold, and how long the
rule fired, counted from the `since` stored when it started firing); one that resolves and fires
again within JOBCTL_ALERT_COOLDOWN stays quiet. Every transition, quiet ones too, is appended to
the alert history (jobctl.core.alerts.history). Every read is O(1) in queue length: queue_stats,
one window of metric buckets, LINDEX 0 per priority queue.

Who evaluates is elected (jobctl.core.alert_evaluator: the scheduler, `workers start` and `monitor`
compete for one lease). Each evaluation is recorded (when, by whom, its interval), so `alerts
list` says "not evaluated" instead of "ok" when nobody evaluated within STALE_INTERVALS intervals:
an "ok" nobody checked is how an outage goes unnoticed.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import redis
from redis.typing import EncodableT, FieldT
from rq import Worker

from jobctl.config import Settings
from jobctl.core import keyspace, metrics
from jobctl.core.alerts import _admin_email, _post_webhook, record_transition
from jobctl.core.liveness import live_workers
from jobctl.core.stats import oldest_waiting, queue_stats
from jobctl.durations import format_seconds

log = logging.getLogger("jobctl.alerts")

RULES = ("error_rate", "queue_size", "oldest_waiting", "no_worker", "worker_died")
STATE = f"{keyspace.JOBCTL}:alert-rules:state"
SEEN_WORKERS = f"{keyspace.JOBCTL}:alert-rules:workers"
EVALUATED = (
    f"{keyspace.JOBCTL}:alert-rules:evaluated"  # hash: the last evaluation (at, by, role, interval, ...)
)
STALE_INTERVALS = 3  # the rules count as "not evaluated" after this many of the evaluator's intervals
ERROR_WINDOW = 300
TEMPLATE = "alert-rule"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")


def _oldest_waits(connection: redis.Redis, settings: Settings, stats: dict, now: float) -> dict[str, float]:
    """Seconds the oldest waiting job of each queue with waiting jobs has waited (the dashboard's
    figure: stats.oldest_waiting)."""
    busy = [q["queue"] for q in stats["queues"] if q["totals"]["waiting"]]
    ages = oldest_waiting(connection, settings, busy, datetime.fromtimestamp(now, UTC)) if busy else {}
    return {queue: age for queue, age in ages.items() if age is not None}


def _died_workers(connection: redis.Redis, alive: set[str], now: float) -> list[str]:
    seen = {k.decode() if isinstance(k, bytes) else k for k in connection.hkeys(SEEN_WORKERS)}
    gone = sorted(seen - alive)
    died = []
    for name in gone:
        key = Worker.redis_worker_namespace_prefix + name
        if not connection.hexists(key, "death"):  # a clean shutdown marks its death; an expired key did not
            died.append(name)
    with connection.pipeline(transaction=False) as pipe:
        if gone:
            pipe.hdel(SEEN_WORKERS, *gone)
        for name in alive:
            pipe.hset(SEEN_WORKERS, name, _iso(now))
        pipe.execute()
    return died


def _waiting(count: int) -> str:
    # the resolving's own wording (the firing text, which filters may match, stays as it was)
    return f"{count:,} waiting job" + ("" if count == 1 else "s")


def _observe(connection: redis.Redis, settings: Settings, now: float) -> list[dict[str, Any]]:
    """Every enabled rule's reading of every subject it watches, firing or not: [{rule, subject,
    value, threshold, message, reading, firing}]. `message` is what a firing says; `reading` the value
    now with its threshold, what a resolving says (the firing text alone would repeat the alarm)."""
    stats = queue_stats(connection, settings)
    names = [q["queue"] for q in stats["queues"]]
    found: list[dict[str, Any]] = []
    if settings.alert_error_rate:
        least = max(1, settings.alert_min_volume)
        limit = f"threshold {settings.alert_error_rate:g}% of at least {least:,} attempts"
        for name, w in metrics.window_stats(connection, names, ERROR_WINDOW, now=now).items():
            finished = w["completed"] + w["failed"]
            rate = w["error_rate"] * 100
            message = f"{rate:.1f}% of {finished:,} attempts failed on {name} in 5 minutes"
            found.append(
                {
                    "rule": "error_rate",
                    "subject": name,
                    "value": round(rate, 1),
                    "threshold": settings.alert_error_rate,
                    "message": message,
                    "reading": f"{message} ({limit})"
                    if finished
                    else f"no attempt finished on {name} in 5 minutes ({limit})",
                    "firing": finished >= least and rate > settings.alert_error_rate,
                }
            )
    for q in stats["queues"]:
        waiting, workers = q["totals"]["waiting"], q["workers"]
        if settings.alert_queue_size:
            limit = f"threshold {settings.alert_queue_size:,}"
            found.append(
                {
                    "rule": "queue_size",
                    "subject": q["queue"],
                    "value": waiting,
                    "threshold": settings.alert_queue_size,
                    "message": f"{q['queue']} has {waiting:,} waiting jobs",
                    "reading": f"{q['queue']} has {_waiting(waiting)} ({limit})",
                    "firing": waiting > settings.alert_queue_size,
                }
            )
        if settings.alert_no_worker:
            live = f"{workers} live worker" + ("s" if workers != 1 else "") if workers else "no live worker"
            found.append(
                {
                    "rule": "no_worker",
                    "subject": q["queue"],
                    "value": waiting,
                    "threshold": 0,
                    "message": f"{q['queue']} has {waiting:,} waiting jobs and {live}",
                    "reading": f"{q['queue']} has {_waiting(waiting)} and {live}",
                    "firing": bool(waiting and not workers),
                }
            )
    if settings.alert_oldest_wait:
        limit = f"threshold {format_seconds(settings.alert_oldest_wait)}"
        waits = _oldest_waits(connection, settings, stats, now)
        for queue in names:
            waited = waits.get(queue)
            found.append(
                {
                    "rule": "oldest_waiting",
                    "subject": queue,
                    "value": round(waited or 0),
                    "threshold": settings.alert_oldest_wait,
                    "message": f"the oldest job on {queue} has waited {(waited or 0) / 60:.0f} minutes",
                    "reading": f"no job waits on {queue} ({limit})"
                    if waited is None
                    else f"the oldest job on {queue} has waited {format_seconds(round(waited))} ({limit})",
                    "firing": waited is not None and waited > settings.alert_oldest_wait,
                }
            )
    alive = {w.name for w in live_workers(connection, settings)}
    for name in _died_workers(connection, alive, now):
        message = f"worker {name} stopped heartbeating without shutting down"
        found.append(
            {
                "rule": "worker_died",
                "subject": name,
                "value": 1,
                "threshold": 0,
                "message": message,
                "reading": message,
                "firing": True,
            }
        )
    return found


CONDITION_FIELDS = ("rule", "subject", "value", "threshold", "message")


def conditions(connection: redis.Redis, settings: Settings, now: float | None = None) -> list[dict[str, Any]]:
    """What is wrong right now: [{rule, subject, value, threshold, message}]."""
    now = time.time() if now is None else now
    return [
        {name: o[name] for name in CONDITION_FIELDS}
        for o in _observe(connection, settings, now)
        if o["firing"]
    ]


def _fired_for(state: dict, now: float) -> int | None:
    """Whole seconds from when the stored state started firing (kept in Redis, so an evaluator
    restart or takeover does not reset it) to `now`; None when no start was stored. A state stored
    before `since_at` existed has only the ISO `since`."""
    try:
        started = (
            float(state["since_at"])
            if "since_at" in state
            else datetime.fromisoformat(state["since"]).timestamp()
        )
    except (KeyError, TypeError, ValueError):
        return None
    return max(0, round(now - started))


def _resolution(state: dict, reading: dict | None, enabled: bool, now: float) -> dict[str, Any]:
    """What a resolving says: the value now with its threshold, and how long the rule fired.
    `reading`: the subject's observation now; None when it has none (rule off, queue gone)."""
    fired_for = _fired_for(state, now)
    took = f"resolved after firing for {format_seconds(fired_for)}" if fired_for is not None else "resolved"
    if reading is not None:
        value, threshold, now_text = reading["value"], reading["threshold"], reading["reading"]
    else:
        value, threshold = None, state.get("threshold")
        why = "the rule was turned off" if not enabled else "it is no longer watched"
        now_text = f"{state['subject']}: no value now ({why})"
    return {
        "value": value,
        "threshold": threshold,
        "message": f"{now_text}: {took}",
        "fired_for_seconds": fired_for,
    }


def _notify(connection: redis.Redis, settings: Settings, event: str, entry: dict) -> list[str]:
    word = "FIRING" if event == "firing" else "resolved"
    (log.warning if event == "firing" else log.info)("alert %s %s: %s", word, entry["rule"], entry["message"])
    channels = ["log"]
    fired_for = entry.get("fired_for_seconds") if event == "resolved" else None
    data = {
        "event": event,
        "rule": entry["rule"],
        "subject": entry["subject"],
        "message": entry["message"],
        "value": entry.get("value"),
        "threshold": entry.get("threshold"),
        "since": entry.get("since"),
        "fired_for_seconds": fired_for,
        "fired_for": format_seconds(fired_for) if fired_for is not None else None,
    }
    if settings.admin_emails and _admin_email(
        connection, settings, TEMPLATE, data, f"{entry['rule']} alert email"
    ):
        channels.append("email")
    if settings.alert_webhook_url and _post_webhook(settings, {**data, "event": f"alert.{event}"}):
        channels.append("webhook")
    return channels


def _record(connection: redis.Redis, event: str, state: dict, now: float, *, notified: bool) -> None:
    """One transition into the alert history (jobctl.core.alerts.history)."""
    entry = {name: state.get(name) for name in CONDITION_FIELDS}
    fired_for = state.get("fired_for_seconds") if event == "resolved" else None
    record_transition(
        connection,
        {**entry, "event": event, "at": _iso(now), "notified": notified, "fired_for_seconds": fired_for},
    )


def evaluate(connection: redis.Redis, settings: Settings, now: float | None = None) -> list[dict[str, Any]]:
    """Compare what is wrong now with the stored state; notify transitions; returns them."""
    now = time.time() if now is None else now
    readings = {f"{o['rule']}:{o['subject']}": o for o in _observe(connection, settings, now)}
    current = {
        key: {name: o[name] for name in CONDITION_FIELDS} for key, o in readings.items() if o["firing"]
    }
    stored = {
        k.decode() if isinstance(k, bytes) else k: json.loads(v) for k, v in connection.hgetall(STATE).items()
    }
    transitions = []
    cooldown = max(0, int(settings.alert_cooldown or 0))
    for key, found in current.items():
        state = stored.get(key, {})
        if state.get("firing"):
            state.update(value=found["value"], message=found["message"])
        else:
            quiet = state.get("resolved_at") and now - state["resolved_at"] < cooldown
            # since_at: `since` unrounded (the ISO text keeps whole seconds), for fired_for_seconds
            state = {
                **state,
                **found,
                "firing": True,
                "since": _iso(now),
                "since_at": now,
                "fired_for_seconds": None,
            }
            if not quiet:
                state["last_fired"] = _iso(now)
                state["channels"] = _notify(connection, settings, "firing", state)
                transitions.append({**state, "event": "firing"})
            # the history has every transition, a quiet one too: else it would show a resolve without its fire
            _record(connection, "firing", state, now, notified=not quiet)
        if found["rule"] == "worker_died":  # an event, not a condition: fired once, then settled
            state.update(firing=False, resolved_at=now)
        connection.hset(STATE, key, json.dumps(state))
    for key, state in stored.items():
        if state.get("firing") and key not in current:
            # the value now and how long it fired, not the firing text again (stored, so `alerts
            # list` shows the same)
            enabled = _enabled(settings).get(state.get("rule", ""), False)
            state.update(_resolution(state, readings.get(key), enabled, now))
            state.update(firing=False, resolved_at=now, last_resolved=_iso(now))
            _notify(connection, settings, "resolved", state)
            transitions.append({**state, "event": "resolved"})
            _record(connection, "resolved", state, now, notified=True)
            connection.hset(STATE, key, json.dumps(state))
    return transitions


def _enabled(settings: Settings) -> dict[str, bool]:
    return {
        "error_rate": bool(settings.alert_error_rate),
        "queue_size": bool(settings.alert_queue_size),
        "oldest_waiting": bool(settings.alert_oldest_wait),
        "no_worker": bool(settings.alert_no_worker),
        "worker_died": True,
    }


def record_evaluation(
    connection: redis.Redis, settings: Settings, *, by: str, role: str, interval: float, now: float
) -> dict[str, Any]:
    """Stamp an evaluation: when, by which evaluator (and its role and interval), how many rules and
    firing subjects, and how many evaluations in a row this evaluator has made. Only the lease
    holder writes it, so the read-then-write of `count` does not race."""
    previous = connection.hmget(EVALUATED, "by", "count")
    same = previous[0] is not None and _text(previous[0]) == by
    count = int(previous[1] or 0) + 1 if same else 1
    firing = sum(1 for v in connection.hvals(STATE) if json.loads(v).get("firing"))
    record: dict[FieldT, EncodableT] = {
        "at": repr(float(now)),
        "by": by,
        "role": role,
        "interval": repr(float(interval)),
        "count": count,
        "rules": sum(_enabled(settings).values()),
        "firing": firing,
    }
    connection.hset(EVALUATED, mapping=record)
    return last_evaluation(connection, now)


def last_evaluation(connection: redis.Redis, now: float | None = None) -> dict[str, Any]:
    """The last recorded evaluation and whether it is recent enough to vouch for the rules' state:
    {evaluated_at, age_seconds, by, role, interval_seconds, stale_after_seconds, fresh, count, rules,
    firing}; all None (fresh False) when no evaluator has run."""
    now = time.time() if now is None else now
    raw = {_text(k): _text(v) for k, v in connection.hgetall(EVALUATED).items()}
    if "at" not in raw:
        return {
            "evaluated_at": None,
            "age_seconds": None,
            "by": None,
            "role": None,
            "interval_seconds": None,
            "stale_after_seconds": None,
            "fresh": False,
            "count": 0,
            "rules": None,
            "firing": None,
        }
    at, interval = float(raw["at"]), float(raw.get("interval") or 0)
    # at least a few seconds of grace: an evaluator with a tiny interval still ticks only every second
    stale_after = max(STALE_INTERVALS * interval, 5.0)
    age = max(0.0, now - at)
    return {
        "evaluated_at": _iso(at),
        "age_seconds": round(age, 1),
        "by": raw.get("by"),
        "role": raw.get("role"),
        "interval_seconds": interval,
        "stale_after_seconds": stale_after,
        "fresh": age <= stale_after,
        "count": int(raw.get("count") or 0),
        "rules": int(raw.get("rules") or 0),
        "firing": int(raw.get("firing") or 0),
    }


def rule_states(
    connection: redis.Redis, settings: Settings, evaluation: dict | None = None
) -> list[dict[str, Any]]:
    """`jobctl alerts list`: every rule with its threshold, its state (off, ok, firing, or
    not-evaluated when no evaluator ran recently) and each subject's state."""
    evaluation = last_evaluation(connection) if evaluation is None else evaluation
    stored = [json.loads(v) for v in connection.hvals(STATE)]
    thresholds = {
        "error_rate": f"{settings.alert_error_rate:g}% (min {settings.alert_min_volume} in 5 min)",
        "queue_size": settings.alert_queue_size,
        "oldest_waiting": f"{settings.alert_oldest_wait}s",
        "no_worker": settings.alert_no_worker,
        "worker_died": True,
    }
    enabled = _enabled(settings)
    rules = []
    for rule in RULES:
        subjects = sorted(
            (
                {
                    "subject": s["subject"],
                    "firing": s.get("firing", False),
                    "state": ("firing" if s.get("firing") else "ok")
                    if evaluation["fresh"]
                    else "not-evaluated",
                    "since": s.get("since"),
                    "last_fired": s.get("last_fired"),
                    "last_resolved": s.get("last_resolved"),
                    "message": s.get("message"),
                }
                for s in stored
                if s.get("rule") == rule
            ),
            key=lambda s: s["subject"],
        )
        if not enabled[rule]:
            state = "off"
        elif not evaluation["fresh"]:
            state = "not-evaluated"
        else:
            state = "firing" if any(s["firing"] for s in subjects) else "ok"
        rules.append(
            {
                "rule": rule,
                "enabled": enabled[rule],
                "threshold": thresholds[rule],
                "state": state,
                "subjects": subjects,
            }
        )
    return rules


def overview(connection: redis.Redis, settings: Settings, now: float | None = None) -> dict[str, Any]:
    """What `alerts list --json` and `monitor --once` show: the last evaluation and every rule."""
    evaluation = last_evaluation(connection, now)
    return {"evaluation": evaluation, "rules": rule_states(connection, settings, evaluation)}


def test_channel(connection: redis.Redis, settings: Settings, channel: str) -> bool:
    """Send a test alert through one channel (log, email, webhook); True when it went out."""
    data = {
        "event": "test",
        "rule": "test",
        "subject": "jobctl",
        "message": "a test alert from jobctl alerts test",
        "value": None,
        "threshold": None,
        "since": _iso(time.time()),
        "fired_for_seconds": None,
        "fired_for": None,
    }
    if channel == "log":
        log.warning("alert test: %s", data["message"])
        return True
    if channel == "email":
        return bool(settings.admin_emails) and _admin_email(
            connection, settings, TEMPLATE, data, "test alert email"
        )
    if channel == "webhook":
        return bool(settings.alert_webhook_url) and _post_webhook(settings, {**data, "event": "alert.test"})
    raise ValueError(channel)
