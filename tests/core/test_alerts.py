"""Dead-letter alerts against real components: Redis TTLs, an HTTP webhook receiver, RQ + aiosmtpd."""

from __future__ import annotations

import email
import json
import logging
import threading
import time
from email import policy

import pytest
from rq import Queue

from jobctl.config import load_settings
from jobctl.core import alerts, keyspace
from jobctl.core.catalog import queue_catalog
from jobctl.core.payloads import PayloadSerializer
from jobctl.jobs.email import list_templates, render_email
from tests.rq_plain import PlainWorker

SECRET = "ssn-078-05-1120 ada.private@example.org"
ADMINS = "ops@marketplace.example.com,oncall@marketplace.example.com"
T0 = 1_700_000_000.0


def make_settings(**flags):
    return load_settings(flags)


def entry(
    n: int = 1,
    *,
    queue: str = "email-sending",
    job_type: str = "email",
    template: str = "welcome",
    message: str = "550 mailbox unavailable",
    **extra,
) -> dict:
    return {
        "job_id": f"job-{n}",
        "queue": queue,
        "priority": "normal",
        "type": job_type,
        "func": "jobctl.jobs.email.send_email",
        "payload": {"to": ["ada.private@example.org"], "template": template, "data": {"secret": SECRET}},
        "error_type": "PermanentJobFailure",
        "error_message": message,
        "attempt_count": 3,
        "died_at": f"2025-03-01T12:00:{n % 60:02d}+00:00",
        "traceback": f"Traceback ...\n{SECRET}",
        "state": "dead",
        **extra,
    }


def alert_queue(redis_client, settings) -> Queue:
    physical = queue_catalog(settings)["email-sending"].physical("high")
    return Queue(physical, connection=redis_client, serializer=PayloadSerializer)


# --- log channel ------------------------------------------------------------------------------------


def test_every_arrival_logs_one_warning_without_the_payload(redis_client, caplog):
    settings = make_settings(alert_cooldown=60)
    long_message = "boom " * 100 + "\nsecond line"
    caplog.set_level(logging.DEBUG, logger="jobctl.alerts")
    for n in range(3):
        alerts.dead_letter_alert(redis_client, settings, entry(n, message=long_message), now=T0 + n)
    lines = [r for r in caplog.records if r.name == "jobctl.alerts" and r.levelno == logging.WARNING]
    assert len(lines) == 3
    text = lines[0].getMessage()
    assert "\n" not in text
    for part in ("email-sending", "job-0", "type=email", "PermanentJobFailure", "attempts=3", "boom boom"):
        assert part in text
    assert len(text) < 400  # the message is cut to ~200 characters
    assert SECRET not in caplog.text and "ada.private" not in caplog.text


# --- grouping ---------------------------------------------------------------------------------------


def test_a_burst_fires_once_then_flush_reports_the_rest_as_one_group(redis_client, webhook):
    settings = make_settings(alert_cooldown=60, alert_webhook_url=webhook.url())
    first = alerts.dead_letter_alert(redis_client, settings, entry(1), now=T0)
    assert first == {"fired": True, "count": 1, "channels": ["log", "webhook"]}
    cooldown_key = keyspace.alert_cooldown("email-sending")
    assert 0 < redis_client.ttl(cooldown_key) <= 60  # a real Redis TTL bounds the window

    later = [alerts.dead_letter_alert(redis_client, settings, entry(n), now=T0 + n) for n in (2, 3, 4)]
    assert [r["fired"] for r in later] == [False, False, False]
    assert [r["count"] for r in later] == [1, 2, 3]
    assert all(r["channels"] == ["log"] for r in later)
    assert len(webhook.requests) == 1
    pending = redis_client.hgetall(keyspace.alert_pending("email-sending"))
    assert pending[b"count"] == b"3" and json.loads(pending[b"last"])["job_id"] == "job-4"

    assert alerts.flush_pending_alerts(redis_client, settings, now=T0 + 30) == 0  # still cooling down
    assert len(webhook.requests) == 1
    assert alerts.flush_pending_alerts(redis_client, settings, now=T0 + 61) == 1
    assert len(webhook.requests) == 2
    grouped = webhook.bodies[1]
    assert grouped["count"] == 3 and grouped["job_id"] == "job-4" and grouped["window_seconds"] == 60
    assert not redis_client.exists(keyspace.alert_pending("email-sending"))
    assert alerts.flush_pending_alerts(redis_client, settings, now=T0 + 200) == 0  # nothing left

    # the flush started a new window: the next arrival within it is counted, not sent
    assert alerts.dead_letter_alert(redis_client, settings, entry(5), now=T0 + 62)["fired"] is False
    assert alerts.dead_letter_alert(redis_client, settings, entry(6), now=T0 + 125) == {
        "fired": True,
        "count": 2,
        "channels": ["log", "webhook"],
    }
    assert [b["count"] for b in webhook.bodies] == [1, 3, 2]


def test_queues_are_grouped_separately(redis_client, webhook):
    settings = make_settings(alert_cooldown=60, alert_webhook_url=webhook.url())
    assert alerts.dead_letter_alert(redis_client, settings, entry(1), now=T0)["fired"]
    assert alerts.dead_letter_alert(redis_client, settings, entry(2, queue="file-processing"), now=T0)[
        "fired"
    ]
    assert not alerts.dead_letter_alert(redis_client, settings, entry(3), now=T0 + 1)["fired"]
    assert [b["queue"] for b in webhook.bodies] == ["email-sending", "file-processing"]


def test_the_window_ends_when_the_redis_key_expires(redis_client, webhook):
    settings = make_settings(alert_cooldown=1, alert_webhook_url=webhook.url())
    assert alerts.dead_letter_alert(redis_client, settings, entry(1))["fired"]
    assert not alerts.dead_letter_alert(redis_client, settings, entry(2))["fired"]
    assert not alerts.dead_letter_alert(redis_client, settings, entry(3))["fired"]
    assert alerts.flush_pending_alerts(redis_client, settings) == 0
    deadline = time.monotonic() + 5
    while redis_client.exists(keyspace.alert_cooldown("email-sending")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not redis_client.exists(keyspace.alert_cooldown("email-sending"))
    # an arrival after expiry fires at once and carries what was pending
    assert alerts.dead_letter_alert(redis_client, settings, entry(4)) == {
        "fired": True,
        "count": 3,
        "channels": ["log", "webhook"],
    }
    assert not redis_client.exists(keyspace.alert_pending("email-sending"))
    assert not redis_client.smembers(alerts.PENDING_QUEUES)

    # and flush picks a group up once the (real) TTL is gone
    assert not alerts.dead_letter_alert(redis_client, settings, entry(5))["fired"]
    time.sleep(1.1)
    assert alerts.flush_pending_alerts(redis_client, settings) == 1
    assert [(b["count"], b["job_id"]) for b in webhook.bodies] == [(1, "job-1"), (3, "job-4"), (1, "job-5")]
    assert redis_client.exists(keyspace.alert_cooldown("email-sending"))  # a new window started


def test_cooldown_zero_fires_every_time(redis_client, webhook):
    settings = make_settings(alert_cooldown=0, alert_webhook_url=webhook.url())
    results = [alerts.dead_letter_alert(redis_client, settings, entry(n), now=T0) for n in range(3)]
    assert all(r == {"fired": True, "count": 1, "channels": ["log", "webhook"]} for r in results)
    assert len(webhook.requests) == 3
    assert not redis_client.exists(keyspace.alert_cooldown("email-sending"))
    assert alerts.flush_pending_alerts(redis_client, settings) == 0


def test_concurrent_arrivals_fire_once_and_lose_nothing(redis_client, redis_url):
    import redis

    settings = make_settings(alert_cooldown=60)
    results: list[dict] = []

    def arrive(n):
        client = redis.Redis.from_url(redis_url)
        try:
            results.append(alerts.dead_letter_alert(client, settings, entry(n), now=T0))
        finally:
            client.close()

    threads = [threading.Thread(target=arrive, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["fired"] for r in results) == 1
    assert sorted(r["count"] for r in results if not r["fired"]) == list(range(1, 20))


# --- webhook ----------------------------------------------------------------------------------------


def test_webhook_posts_json_without_the_payload(redis_client, webhook):
    settings = make_settings(alert_cooldown=300, alert_webhook_url=webhook.url())
    alerts.dead_letter_alert(redis_client, settings, entry(7, message="bad address"), now=T0)
    (request,) = webhook.requests
    assert request["path"] == "/hooks/jobctl?token=tok-SECRET-123"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["User-Agent"] == "jobctl"
    assert json.loads(request["raw"]) == {
        "event": "jobs.dead_lettered",
        "queue": "email-sending",
        "count": 1,
        "job_id": "job-7",
        "type": "email",
        "error_type": "PermanentJobFailure",
        "error_message": "bad address",
        "died_at": "2025-03-01T12:00:07+00:00",
        "window_seconds": 300,
    }
    assert (
        "ada.private" not in request["raw"]
        and "ssn-" not in request["raw"]
        and "Traceback" not in request["raw"]
    )
    # nor is it kept in Redis for the grouped alert
    alerts.dead_letter_alert(redis_client, settings, entry(8), now=T0 + 1)
    stored = redis_client.hget(keyspace.alert_pending("email-sending"), "last").decode()
    assert "ada.private" not in stored and "ssn-" not in stored


def test_webhook_failures_are_logged_without_the_token_and_never_raised(
    redis_client, closed_port, webhook, caplog
):
    caplog.set_level(logging.WARNING, logger="jobctl.alerts")
    url = f"http://127.0.0.1:{closed_port}/hook?token=tok-SECRET-123"
    settings = make_settings(alert_cooldown=0, alert_webhook_url=url)
    assert alerts.dead_letter_alert(redis_client, settings, entry(1), now=T0) == {
        "fired": True,
        "count": 1,
        "channels": ["log"],
    }
    assert f"http://127.0.0.1:{closed_port}/hook failed" in caplog.text

    webhook.status = 500
    settings = make_settings(alert_cooldown=0, alert_webhook_url=webhook.url())
    assert alerts.dead_letter_alert(redis_client, settings, entry(2), now=T0)["channels"] == ["log"]
    assert "answered HTTP 500" in caplog.text
    assert "tok-SECRET-123" not in caplog.text


# --- email ------------------------------------------------------------------------------------------


def test_template_is_listed_and_renders_strictly(settings):
    row = next(r for r in list_templates(settings) if r["name"] == "dead-letter-alert")
    assert row["source"] == "built-in"
    assert row["variables"] == [
        "count",
        "died_at",
        "error_message",
        "error_type",
        "job_id",
        "job_type",
        "queue",
        "window_minutes",
    ]
    data = {
        "queue": "email-sending",
        "count": 3,
        "job_id": "abc",
        "job_type": "email",
        "error_type": "E",
        "error_message": "<b>x</b>",
        "died_at": "2025-03-01T12:00:00+00:00",
        "window_minutes": 5,
    }
    rendered = render_email(settings, "dead-letter-alert", data)
    assert rendered.subject == "[jobctl] 3 job(s) dead-lettered on email-sending"
    for body in (rendered.text, rendered.html):
        assert "jobctl dlq list --queue email-sending" in body and "jobctl dlq show abc" in body
        assert "every 5 minute(s)" in body
    assert "&lt;b&gt;x&lt;/b&gt;" in rendered.html
    assert "every" not in render_email(settings, "dead-letter-alert", data | {"window_minutes": 0}).text
    from jobctl.errors import UsageError

    with pytest.raises(UsageError, match="needs variable 'count'"):
        render_email(settings, "dead-letter-alert", {k: v for k, v in data.items() if k != "count"})


def test_alert_email_reaches_every_admin_through_a_real_worker(redis_client, configure, smtp_server, webhook):
    user, password = smtp_server.credentials
    settings = configure(
        EMAIL_PROVIDER="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_server.port,
        JOBCTL_SMTP_SECURITY="none",
        SMTP_USER=user,
        SMTP_PASSWORD=password,
        JOBCTL_ADMIN_EMAILS=ADMINS,
        JOBCTL_ALERT_COOLDOWN="5m",
        JOBCTL_ALERT_WEBHOOK_URL=webhook.url(),
    )
    queue = alert_queue(redis_client, settings)
    assert alerts.dead_letter_alert(redis_client, settings, entry(1), now=T0) == {
        "fired": True,
        "count": 1,
        "channels": ["log", "email", "webhook"],
    }
    for n in (2, 3):
        assert alerts.dead_letter_alert(redis_client, settings, entry(n), now=T0 + n)["fired"] is False
    assert queue.count == 1  # one email per window, for all admins
    assert alerts.flush_pending_alerts(redis_client, settings, now=T0 + 301) == 1
    assert queue.count == 2
    (job, _) = queue.jobs
    assert job.description == "email dead-letter-alert" and job.meta["priority"] == "high"
    assert job.args[0]["to"] == ADMINS.split(",") and job.args[0]["template"] == "dead-letter-alert"

    PlainWorker([queue], connection=redis_client, serializer=PayloadSerializer).work(burst=True)

    messages = smtp_server.handler.messages
    assert len(messages) == 2 and queue.count == 0
    parsed = [email.message_from_bytes(m["data"], policy=policy.default) for m in messages]
    assert all(sorted(m["rcpt_tos"]) == sorted(ADMINS.split(",")) for m in messages)
    assert [p["Subject"] for p in parsed] == [
        "[jobctl] 1 job(s) dead-lettered on email-sending",
        "[jobctl] 2 job(s) dead-lettered on email-sending",
    ]
    text = parsed[1].get_body(("plain",)).get_content()
    html = parsed[1].get_body(("html",)).get_content()
    for body in (text, html):
        assert "jobctl dlq list --queue email-sending" in body and "jobctl dlq show job-3" in body
        assert "550 mailbox unavailable" in body
    for raw in [m["data"] for m in messages] + [r["raw"].encode() for r in webhook.requests]:
        assert b"ada.private" not in raw and b"ssn-" not in raw


def test_a_dead_alert_email_does_not_trigger_another_email(redis_client, configure, webhook, caplog):
    settings = configure(
        JOBCTL_ADMIN_EMAILS=ADMINS, JOBCTL_ALERT_COOLDOWN="0", JOBCTL_ALERT_WEBHOOK_URL=webhook.url()
    )
    queue = alert_queue(redis_client, settings)
    looping = entry(1, template="dead-letter-alert")
    assert alerts.dead_letter_alert(redis_client, settings, looping, now=T0) == {
        "fired": True,
        "count": 1,
        "channels": ["log", "webhook"],
    }
    assert queue.count == 0 and len(webhook.requests) == 1
    assert "no alert loops" in caplog.text
    # another job type or template on the same queue is still emailed
    assert alerts.dead_letter_alert(redis_client, settings, entry(2), now=T0)["channels"] == [
        "log",
        "email",
        "webhook",
    ]
    assert alerts.dead_letter_alert(
        redis_client, settings, entry(3, job_type="noop", template="dead-letter-alert"), now=T0
    )["channels"] == ["log", "email", "webhook"]
    assert queue.count == 2


def test_no_channels_configured_means_log_only(redis_client, settings):
    assert alerts.dead_letter_alert(redis_client, settings, entry(1)) == {
        "fired": True,
        "count": 1,
        "channels": ["log"],
    }
