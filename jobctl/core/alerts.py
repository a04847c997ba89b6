"""Alerts to admins: jobs landing in the dead-letter queue (grouped), and infected uploads (each one).

Dead letters: a log line always, an email and a webhook grouped.

Grouping is per queue and lives in Redis, so every worker shares it:

* `alert_cooldown(queue)`: string holding the start of the current window (unix time), EX cooldown.
  While it is alive (and `start + cooldown > now`) further arrivals are only counted.
* `alert_pending(queue)`: hash {count: arrivals not yet reported, last: JSON summary of the latest}.
* `PENDING_QUEUES`: set of queue names with a pending hash, so `flush_pending_alerts` (run from the
  workers' maintenance) looks at a handful of keys instead of scanning the keyspace.

The alert rules' history (jobctl.core.alert_rules) is here too: every firing and resolving
transition the evaluator records, in a capped stream (`HISTORY`, about HISTORY_MAX_ENTRIES long),
read newest first by `history` (`jobctl alerts history`, GET /api/alerts/history, the web page).

Both decisions (fire now or count; flush or wait) are single Lua scripts, so concurrent workers
never report an arrival twice or lose one. Alerts never carry the job payload: it may hold
personal data; the pending summary (its error message may quote some) is stored encrypted when
JOBCTL_ENCRYPTION_KEYS is set. Nothing here raises because a channel failed; the log says what went wrong.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import redis

from jobctl.config import Settings, mask_url
from jobctl.core import keyspace, payloads
from jobctl.core.submit import submit
from jobctl.errors import JobctlError, UsageError

log = logging.getLogger("jobctl.alerts")

TEMPLATE = "dead-letter-alert"
EVENT = "jobs.dead_lettered"
INFECTED_TEMPLATE = "infected-file-alert"
INFECTED_EVENT = "file.infected"
WEBHOOK_TIMEOUT = 5
LOG_MESSAGE_LIMIT = 200
MESSAGE_LIMIT = 500
PENDING_QUEUES = f"{keyspace.JOBCTL}:alert:queues"
HISTORY = f"{keyspace.JOBCTL}:alert-rules:history"  # stream: one entry per firing or resolving transition
HISTORY_MAX_ENTRIES = 1000  # XADD MAXLEN ~: Redis trims in whole nodes, so a few more may stay
# fired_for_seconds: on a resolving, how long the rule fired (None on a firing)
HISTORY_FIELDS = (
    "event",
    "rule",
    "subject",
    "value",
    "threshold",
    "message",
    "at",
    "notified",
    "fired_for_seconds",
)
SUMMARY_FIELDS = (
    "job_id",
    "queue",
    "priority",
    "type",
    "error_type",
    "error_message",
    "attempt_count",
    "died_at",
)

# KEYS: cooldown, pending, pending-queues set; ARGV: now, cooldown seconds, queue, summary JSON.
# Returns {1, count} when the alert fires now (count includes what was pending), {0, pending} if not.
_ARRIVE = """
local now, cooldown = tonumber(ARGV[1]), tonumber(ARGV[2])
if cooldown > 0 then
  local start = tonumber(redis.call('GET', KEYS[1]) or '')
  if start and start + cooldown > now then
    local pending = redis.call('HINCRBY', KEYS[2], 'count', 1)
    redis.call('HSET', KEYS[2], 'last', ARGV[4])
    redis.call('SADD', KEYS[3], ARGV[3])
    return {0, pending}
  end
  redis.call('SET', KEYS[1], ARGV[1], 'EX', cooldown)
end
local pending = tonumber(redis.call('HGET', KEYS[2], 'count') or '0')
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[3])
return {1, pending + 1}
"""

# KEYS: cooldown, pending, pending-queues set; ARGV: now, cooldown seconds, queue.
# Returns {count, last summary JSON} when a grouped alert is due (a new window starts), else false.
_FLUSH = """
local now, cooldown = tonumber(ARGV[1]), tonumber(ARGV[2])
local count = tonumber(redis.call('HGET', KEYS[2], 'count') or '0')
if count <= 0 then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[3])
  return false
end
if cooldown > 0 then
  local start = tonumber(redis.call('GET', KEYS[1]) or '')
  if start and start + cooldown > now then
    return false
  end
  redis.call('SET', KEYS[1], ARGV[1], 'EX', cooldown)
end
local last = redis.call('HGET', KEYS[2], 'last') or '{}'
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[3])
return {count, last}
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _one_line(value: Any, limit: int) -> str:
    text = " ".join(str(value if value is not None else "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_alert_email(entry: dict) -> bool:
    payload = entry.get("payload")
    return (
        entry.get("type") == "email"
        and isinstance(payload, dict)
        and payload.get("template") in (TEMPLATE, INFECTED_TEMPLATE)
    )


def _summary(entry: dict) -> dict[str, Any]:
    """What an alert may say about an entry: never the payload."""
    summary = {k: entry.get(k) for k in SUMMARY_FIELDS}
    summary["error_message"] = _one_line(summary["error_message"], MESSAGE_LIMIT)
    summary["alert_email"] = _is_alert_email(entry)
    return summary


def safe_url(url: str) -> str:
    """The webhook URL for logs: no password, query string or fragment (they may hold a token)."""
    return mask_url(urlsplit(url)._replace(query="", fragment="").geturl())


def _cooldown(settings: Settings) -> int:
    return max(0, int(settings.alert_cooldown or 0))


def _window_minutes(seconds: int) -> int | float:
    return seconds // 60 if seconds % 60 == 0 else round(seconds / 60, 1)


def dead_letter_alert(
    connection: redis.Redis, settings: Settings, entry: dict, *, now: float | None = None
) -> dict:
    """Report one dead-lettered job: log it, then email/webhook unless the queue's window is cooling down.

    Returns {"fired": bool, "count": jobs reported (or pending so far when not fired), "channels": [...]}.
    """
    now = time.time() if now is None else now
    summary = _summary(entry)
    queue = _text(summary["queue"])
    log.warning(
        "job dead-lettered: queue=%s job=%s type=%s error=%s: %s attempts=%s",
        queue,
        summary["job_id"],
        summary["type"],
        summary["error_type"],
        _one_line(summary["error_message"], LOG_MESSAGE_LIMIT),
        summary["attempt_count"],
    )
    cooldown = _cooldown(settings)
    fired, count = connection.register_script(_ARRIVE)(
        keys=[keyspace.alert_cooldown(queue), keyspace.alert_pending(queue), PENDING_QUEUES],
        args=[repr(float(now)), cooldown, queue, payloads.seal_text(json.dumps(summary, default=str))],
    )
    if not fired:
        return {"fired": False, "count": int(count), "channels": ["log"]}
    return {"fired": True, "count": int(count), "channels": _fire(connection, settings, summary, int(count))}


def flush_pending_alerts(connection: redis.Redis, settings: Settings, *, now: float | None = None) -> int:
    """Fire one grouped alert for every queue whose window is over and has unreported arrivals.

    Cheap enough for every maintenance round: one SMEMBERS of the (small) set of queues with pending
    arrivals and one script per such queue. Returns how many alerts fired.
    """
    now = time.time() if now is None else now
    queues = sorted(_text(q) for q in connection.smembers(PENDING_QUEUES))
    if not queues:
        return 0
    flush = connection.register_script(_FLUSH)
    cooldown = _cooldown(settings)
    fired = 0
    for queue in queues:
        result = flush(
            keys=[keyspace.alert_cooldown(queue), keyspace.alert_pending(queue), PENDING_QUEUES],
            args=[repr(float(now)), cooldown, queue],
        )
        if not result:
            continue
        count, raw = int(result[0]), _text(result[1])
        try:
            summary = json.loads(payloads.open_text(raw))
        except (ValueError, JobctlError):  # unreadable, or sealed with a key this process lacks
            summary = {}
        summary["queue"] = queue
        log.warning(
            "grouped dead-letter alert: %d job(s) dead-lettered on %s since the last alert", count, queue
        )
        _fire(connection, settings, summary, count)
        fired += 1
    return fired


def _fire(connection: redis.Redis, settings: Settings, summary: dict, count: int) -> list[str]:
    channels = ["log"]
    if settings.admin_emails:
        if summary.get("alert_email"):
            log.warning(
                "not emailing about dead-lettered alert email %s (no alert loops)", summary.get("job_id")
            )
        elif _email(connection, settings, summary, count):
            channels.append("email")
    if settings.alert_webhook_url and _webhook(settings, summary, count):
        channels.append("webhook")
    return channels


def _email(connection: redis.Redis, settings: Settings, summary: dict, count: int) -> bool:
    data = {
        "queue": summary.get("queue"),
        "count": count,
        "job_id": summary.get("job_id"),
        "job_type": summary.get("type"),
        "error_type": summary.get("error_type"),
        "error_message": summary.get("error_message"),
        "died_at": summary.get("died_at"),
        "window_minutes": _window_minutes(_cooldown(settings)),
    }
    return _admin_email(
        connection, settings, TEMPLATE, data, f"dead-letter alert email for {summary.get('queue')}"
    )


def _admin_email(connection: redis.Redis, settings: Settings, template: str, data: dict, what: str) -> bool:
    try:
        job_id = submit(
            connection,
            settings,
            "email",
            {"to": list(settings.admin_emails), "template": template, "data": data},
            priority="high",
        )
    except (JobctlError, redis.RedisError) as exc:  # a bad template or Redis hiccup: still send the webhook
        log.warning("could not enqueue the %s: %s: %s", what, type(exc).__name__, exc)
        return False
    log.info("%s queued as job %s", what, job_id)
    return True


def _webhook(settings: Settings, summary: dict, count: int) -> bool:
    return _post_webhook(
        settings,
        {
            "event": EVENT,
            "queue": summary.get("queue"),
            "count": count,
            "job_id": summary.get("job_id"),
            "type": summary.get("type"),
            "error_type": summary.get("error_type"),
            "error_message": summary.get("error_message"),
            "died_at": summary.get("died_at"),
            "window_seconds": _cooldown(settings),
        },
    )


def _post_webhook(settings: Settings, body: dict) -> bool:
    from jobctl.core import http_client  # lazy: httpx (~80 ms) only when a webhook is posted

    url = settings.alert_webhook_url
    try:
        answer = http_client.request(
            "POST",
            url,
            content=json.dumps(body, default=str).encode(),
            headers={"Content-Type": "application/json"},
            timeout=WEBHOOK_TIMEOUT,
            max_body=64 * 1024,
        )
    except http_client.HTTPFailure as exc:  # refused, timed out, a bad URL: the reason is already redacted
        log.warning("alert webhook %s failed: %s: %s", safe_url(url), exc.kind, exc.reason)
        return False
    if not 200 <= answer.status < 300:
        log.warning("alert webhook %s answered HTTP %s", safe_url(url), answer.status)
        return False
    return True


def infected_file_alert(connection: redis.Redis, settings: Settings, details: dict[str, Any]) -> list[str]:
    """Tell the admins an upload carried malware: every time, since each one is an incident to look at.

    `details` says which file and what was found (file_id, file_name, user_id, product_id, signature,
    scanner, sha256, quarantine_path, job_id); it never holds the file. Returns the channels used.
    """
    log.error(
        "infected upload quarantined: file=%s user=%s signature=%s sha256=%s job=%s",
        details.get("file_id"),
        details.get("user_id"),
        details.get("signature"),
        details.get("sha256"),
        details.get("job_id"),
    )
    channels = ["log"]
    if settings.admin_emails and _admin_email(
        connection,
        settings,
        INFECTED_TEMPLATE,
        dict(details),
        f"infected-file alert email for {details.get('file_id')}",
    ):
        channels.append("email")
    if settings.alert_webhook_url and _post_webhook(settings, {"event": INFECTED_EVENT, **details}):
        channels.append("webhook")
    return channels


# --- the alert rules' history -----------------------------------------------------------------


def record_transition(connection: redis.Redis, transition: dict[str, Any]) -> None:
    """Append one firing or resolving transition of an alert rule to the capped history stream.
    `transition`: event (firing, resolved), rule, subject, value (on a resolving: the value then, not
    the firing's), threshold, message, at (ISO time), notified (False for a firing within the
    cooldown, which told nobody), fired_for_seconds (on a resolving: how long the rule fired)."""
    fields = {name: json.dumps(transition.get(name)) for name in HISTORY_FIELDS}
    connection.xadd(HISTORY, fields, maxlen=HISTORY_MAX_ENTRIES, approximate=True)  # type: ignore[arg-type]


def history(connection: redis.Redis, limit: int = 50) -> list[dict[str, Any]]:
    """The last `limit` transitions, newest first: [{id, event, rule, subject, value, threshold,
    message, at, notified, fired_for_seconds}] (entries recorded before fired_for_seconds existed
    read it as None). One XREVRANGE of `limit` entries: O(limit), whatever the stream holds."""
    if limit < 1:
        raise UsageError("limit must be at least 1", "pass --limit 1 or more")
    rows = connection.xrevrange(HISTORY, count=min(limit, HISTORY_MAX_ENTRIES)) or []
    found = []
    for entry_id, fields in rows:
        text = {_text(k): _text(v) for k, v in (fields or {}).items()}
        doc: dict[str, Any] = {"id": _text(entry_id)}
        for name in HISTORY_FIELDS:
            try:
                doc[name] = json.loads(text[name]) if name in text else None
            except ValueError:
                doc[name] = text[name]
        found.append(doc)
    return found
