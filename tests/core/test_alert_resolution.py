"""A resolving alert says what the value is now (with its threshold) and how long the rule fired, in
every place that shows or sends it: the transition, the stored state, the history, the webhook, the
admin email (a real worker delivering to aiosmtpd)."""

from __future__ import annotations

import email
import json
import time
from email import policy

from rq import Queue

from jobctl.core import alert_rules, alerts
from jobctl.core.alert_evaluator import AlertEvaluator
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.ops import clear_queue
from jobctl.core.payloads import PayloadSerializer
from tests.core.test_metrics import known_workload
from tests.rq_plain import PlainWorker

QUEUE = "payment-retry"
T0 = 1_800_000_000.0  # a fixed clock, ahead of the jobs' enqueue times
ADMINS = "ops@marketplace.example.com"
# only the queue-size rule: the others would fire on the same jobs (no worker, waited since T0 - now)
ONLY_QUEUE_SIZE = {
    "JOBCTL_ALERT_QUEUE_SIZE": "5",
    "JOBCTL_ALERT_NO_WORKER": "false",
    "JOBCTL_ALERT_OLDEST_WAIT": "0",
    "JOBCTL_ALERT_ERROR_RATE": "0",
    "JOBCTL_ALERT_COOLDOWN": "0",
}


def _drop_to(redis_client, settings, waiting: int) -> None:
    clear_queue(redis_client, settings, QUEUE, "waiting")
    enqueue_many(redis_client, settings, "noop", [{}] * waiting, queue=QUEUE)


def test_a_resolving_says_the_value_now_and_how_long_the_rule_fired(redis_client, configure, webhook):
    settings = configure(**ONLY_QUEUE_SIZE, JOBCTL_ALERT_WEBHOOK_URL=webhook.url())
    enqueue_many(redis_client, settings, "noop", [{}] * 7, queue=QUEUE)
    [fired] = alert_rules.evaluate(redis_client, settings, now=T0)
    assert fired["message"] == f"{QUEUE} has 7 waiting jobs" and fired["value"] == 7
    enqueue_many(redis_client, settings, "noop", [{}] * 2, queue=QUEUE)
    assert alert_rules.evaluate(redis_client, settings, now=T0 + 60) == []  # still firing: 9
    _drop_to(redis_client, settings, 2)
    [resolved] = alert_rules.evaluate(redis_client, settings, now=T0 + 14 * 60 + 5)
    message = f"{QUEUE} has 2 waiting jobs (threshold 5): resolved after firing for 14m5s"
    assert resolved["event"] == "resolved" and resolved["message"] == message
    assert (resolved["value"], resolved["threshold"], resolved["fired_for_seconds"]) == (2, 5, 845)

    firing_body, resolved_body = webhook.bodies
    assert firing_body["event"] == "alert.firing" and firing_body["fired_for_seconds"] is None
    assert resolved_body["event"] == "alert.resolved" and resolved_body["message"] == message
    assert (resolved_body["value"], resolved_body["fired_for_seconds"], resolved_body["fired_for"]) == (
        2,
        845,
        "14m5s",
    )
    newest, oldest = alerts.history(redis_client, 2)
    assert (newest["event"], newest["value"], newest["message"]) == ("resolved", 2, message)
    assert newest["fired_for_seconds"] == 845 and oldest["fired_for_seconds"] is None
    assert oldest["value"] == 7  # the firing keeps the value it fired with
    [rule] = [r for r in alert_rules.rule_states(redis_client, settings) if r["rule"] == "queue_size"]
    assert rule["subjects"][0]["message"] == message  # `alerts list` shows the resolving, not the alarm


def test_the_duration_survives_an_evaluator_restart(redis_client, configure):
    """`since` is in Redis: an evaluator that took over (another process) counts from the firing."""
    settings = configure(**ONLY_QUEUE_SIZE)
    enqueue_many(redis_client, settings, "noop", [{}] * 6, queue=QUEUE)
    first = AlertEvaluator(settings, "workers", interval=15)
    assert [c["event"] for c in first.step(redis_client, now=T0, force=True)] == ["firing"]
    first.release(redis_client)  # it stopped; another one takes over
    _drop_to(redis_client, settings, 0)
    second = AlertEvaluator(settings, "scheduler", interval=15)
    [resolved] = second.step(redis_client, now=T0 + 2 * 3600 + 60, force=True)
    assert resolved["fired_for_seconds"] == 7260
    assert resolved["message"] == f"{QUEUE} has 0 waiting jobs (threshold 5): resolved after firing for 2h1m"
    second.release(redis_client)


def test_a_state_stored_before_the_upgrade_counts_from_its_iso_since(redis_client, configure):
    """A rule firing while jobctl is upgraded: its stored state has only the ISO `since`."""
    settings = configure(**ONLY_QUEUE_SIZE)
    old = {
        "rule": "queue_size",
        "subject": QUEUE,
        "value": 9,
        "threshold": 5,
        "message": f"{QUEUE} has 9 waiting jobs",
        "firing": True,
        "since": "2027-01-15T08:00:00+00:00",  # T0
        "last_fired": "2027-01-15T08:00:00+00:00",
    }
    redis_client.hset(alert_rules.STATE, f"queue_size:{QUEUE}", json.dumps(old))
    [resolved] = alert_rules.evaluate(redis_client, settings, now=T0 + 300.4)
    assert resolved["fired_for_seconds"] == 300 and resolved["value"] == 0
    assert resolved["message"] == f"{QUEUE} has 0 waiting jobs (threshold 5): resolved after firing for 5m"


def test_other_rules_say_their_value_now(redis_client, configure):
    settings = configure(JOBCTL_ALERT_COOLDOWN="0", JOBCTL_ALERT_OLDEST_WAIT="600")
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue=QUEUE)  # and no worker
    later = T0 + 3600  # the jobs have waited about an hour by then
    fired = {c["rule"]: c for c in alert_rules.evaluate(redis_client, settings, now=later)}
    assert sorted(fired) == ["no_worker", "oldest_waiting"]
    clear_queue(redis_client, settings, QUEUE, "waiting")
    resolved = {c["rule"]: c for c in alert_rules.evaluate(redis_client, settings, now=later + 90)}
    assert resolved["no_worker"]["message"] == (
        f"{QUEUE} has 0 waiting jobs and no live worker: resolved after firing for 1m30s"
    )
    assert resolved["oldest_waiting"]["message"] == (
        f"no job waits on {QUEUE} (threshold 10m): resolved after firing for 1m30s"
    )
    assert resolved["oldest_waiting"]["value"] == 0 and resolved["no_worker"]["value"] == 0


def test_an_error_rate_that_fell_under_its_threshold_says_the_rate_now(redis_client, configure, tmp_path):
    quiet = {"JOBCTL_ALERT_NO_WORKER": "false", "JOBCTL_ALERT_COOLDOWN": "0", "JOBCTL_ALERT_MIN_VOLUME": "10"}
    settings = configure(**quiet)
    known_workload(redis_client, settings, tmp_path)  # 4 failed of 14 finished: 28.6 %
    now = time.time()
    [fired] = alert_rules.evaluate(redis_client, settings, now=now)
    assert (fired["rule"], fired["value"]) == ("error_rate", 28.6)
    settings = configure(**quiet, JOBCTL_ALERT_ERROR_RATE="50")  # the same rate, under a new threshold
    [resolved] = alert_rules.evaluate(redis_client, settings, now=now + 20)
    assert resolved["message"] == (
        "28.6% of 14 attempts failed on referral-commission in 5 minutes "
        "(threshold 50% of at least 10 attempts): resolved after firing for 20s"
    )
    assert (resolved["value"], resolved["threshold"], resolved["fired_for_seconds"]) == (28.6, 50, 20)


def test_a_rule_turned_off_while_firing_resolves_without_a_value(redis_client, configure):
    settings = configure(**ONLY_QUEUE_SIZE)
    enqueue_many(redis_client, settings, "noop", [{}] * 6, queue=QUEUE)
    alert_rules.evaluate(redis_client, settings, now=T0)
    settings = configure(**{**ONLY_QUEUE_SIZE, "JOBCTL_ALERT_QUEUE_SIZE": "0"})
    [resolved] = alert_rules.evaluate(redis_client, settings, now=T0 + 30)
    assert resolved["value"] is None and resolved["threshold"] == 5  # the threshold it fired over
    assert resolved["message"] == (
        f"{QUEUE}: no value now (the rule was turned off): resolved after firing for 30s"
    )


def test_the_resolved_email_says_the_value_now_and_for_how_long(redis_client, configure, smtp_server):
    user, password = smtp_server.credentials
    settings = configure(
        **ONLY_QUEUE_SIZE,
        EMAIL_PROVIDER="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_server.port,
        JOBCTL_SMTP_SECURITY="none",
        SMTP_USER=user,
        SMTP_PASSWORD=password,
        JOBCTL_ADMIN_EMAILS=ADMINS,
    )
    enqueue_many(redis_client, settings, "noop", [{}] * 1200, queue=QUEUE)
    alert_rules.evaluate(redis_client, settings, now=T0)
    _drop_to(redis_client, settings, 3)
    alert_rules.evaluate(redis_client, settings, now=T0 + 14 * 60)
    physical = queue_catalog(settings)["email-sending"].physical("high")
    queue = Queue(physical, connection=redis_client, serializer=PayloadSerializer)
    assert queue.count == 2  # the firing's email and the resolving's
    PlainWorker([queue], connection=redis_client, serializer=PayloadSerializer).work(burst=True)

    parsed = [
        email.message_from_bytes(m["data"], policy=policy.default) for m in smtp_server.handler.messages
    ]
    resolved = f"{QUEUE} has 3 waiting jobs (threshold 5): resolved after firing for 14m"
    assert [p["Subject"] for p in parsed] == [
        f"[jobctl] FIRING: {QUEUE} has 1,200 waiting jobs",
        f"[jobctl] resolved: {resolved}",
    ]
    text = parsed[1].get_body(("plain",)).get_content()
    html = parsed[1].get_body(("html",)).get_content()
    assert "An alert rule has resolved" in text and resolved in text
    assert "Value:     3 now (threshold 5)" in text and "Fired for: 14m" in text
    assert "Alert resolved" in html and resolved in html
    assert "value 3 now, threshold 5" in html and "fired for 14m" in html
    firing_text = parsed[0].get_body(("plain",)).get_content()
    assert "Value:     1200 (threshold 5)" in firing_text and "Fired for" not in firing_text
