"""Alert rules: each rule fires on its condition, notifies once, resolves, respects the cooldown."""

from __future__ import annotations

import time

from jobctl.core import alert_rules
from jobctl.core.bulk import enqueue_many
from jobctl.core.ops import clear_queue
from tests.core.test_metrics import known_workload


def events(webhook) -> list[tuple[str, str, str]]:
    return [(b["event"], b["rule"], b["subject"]) for b in webhook.bodies]


def test_no_worker_fires_once_then_resolves(redis_client, configure, webhook):
    settings = configure(JOBCTL_ALERT_WEBHOOK_URL=webhook.url(), JOBCTL_ALERT_COOLDOWN="0")
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue="payment-retry")
    [change] = alert_rules.evaluate(redis_client, settings)
    assert (change["event"], change["rule"], change["subject"]) == ("firing", "no_worker", "payment-retry")
    assert alert_rules.evaluate(redis_client, settings) == []  # still firing: not told again
    clear_queue(redis_client, settings, "payment-retry", "waiting")
    [resolved] = alert_rules.evaluate(redis_client, settings)
    assert resolved["event"] == "resolved"
    assert events(webhook) == [
        ("alert.firing", "no_worker", "payment-retry"),
        ("alert.resolved", "no_worker", "payment-retry"),
    ]
    [rule] = [r for r in alert_rules.rule_states(redis_client, settings) if r["rule"] == "no_worker"]
    assert rule["subjects"][0]["firing"] is False and rule["subjects"][0]["last_resolved"]


def test_a_rule_that_flaps_within_the_cooldown_stays_quiet(redis_client, configure):
    settings = configure(JOBCTL_ALERT_COOLDOWN="300")
    enqueue_many(redis_client, settings, "noop", [{}], queue="payment-retry")
    assert len(alert_rules.evaluate(redis_client, settings)) == 1
    clear_queue(redis_client, settings, "payment-retry", "waiting")
    assert [c["event"] for c in alert_rules.evaluate(redis_client, settings)] == ["resolved"]
    enqueue_many(redis_client, settings, "noop", [{}], queue="payment-retry")
    assert alert_rules.evaluate(redis_client, settings) == []  # firing again, but within the cooldown


def test_queue_size_and_oldest_waiting(redis_client, configure):
    settings = configure(
        JOBCTL_ALERT_QUEUE_SIZE="5", JOBCTL_ALERT_OLDEST_WAIT="60", JOBCTL_ALERT_NO_WORKER="false"
    )
    enqueue_many(redis_client, settings, "noop", [{}] * 6, queue="email-sending")
    assert [c["rule"] for c in alert_rules.conditions(redis_client, settings)] == ["queue_size"]
    later = alert_rules.conditions(redis_client, settings, now=time.time() + 120)
    assert sorted(c["rule"] for c in later) == ["oldest_waiting", "queue_size"]
    assert next(c for c in later if c["rule"] == "oldest_waiting")["value"] >= 119


def test_error_rate_needs_a_minimum_volume(redis_client, configure, tmp_path):
    settings = configure(JOBCTL_ALERT_NO_WORKER="false")
    known_workload(redis_client, settings, tmp_path)  # 4 failed of 14 finished: 28.6 %
    assert alert_rules.conditions(redis_client, settings) == []  # 14 < the default minimum of 20
    settings = configure(JOBCTL_ALERT_NO_WORKER="false", JOBCTL_ALERT_MIN_VOLUME="10")
    [found] = alert_rules.conditions(redis_client, settings)
    assert (found["rule"], found["subject"], found["value"]) == ("error_rate", "referral-commission", 28.6)


def test_a_worker_that_vanished_without_a_death_mark_is_reported_once(redis_client, configure):
    settings = configure(JOBCTL_ALERT_NO_WORKER="false")
    redis_client.hset(alert_rules.SEEN_WORKERS, "ghost-worker", "2026-11-29T00:00:00+00:00")
    [died] = alert_rules.evaluate(redis_client, settings)
    assert (died["rule"], died["subject"]) == ("worker_died", "ghost-worker")
    assert alert_rules.evaluate(redis_client, settings) == []


def test_alerts_commands(cli, redis_client, configure, webhook):
    configure(JOBCTL_ALERT_WEBHOOK_URL=webhook.url())
    enqueue_many(redis_client, alert_rules_settings(), "noop", [{}], queue="payment-retry")
    out = cli.json("monitor", "--once")
    assert [c["rule"] for c in out["changes"]] == ["no_worker"]
    rules = {r["rule"]: r for r in cli.json("alerts", "list")["rules"]}
    assert rules["no_worker"]["subjects"][0]["firing"] is True and rules["queue_size"]["threshold"] == 10000
    assert "test alert sent by webhook" in cli("alerts", "test", "webhook").stdout
    assert webhook.bodies[-1]["event"] == "alert.test"
    assert "unknown channel" in cli("alerts", "test", "pager", code=2).stderr


def alert_rules_settings():
    from jobctl.core import runtime

    return runtime.settings()


def test_the_active_scheduler_evaluates_the_rules(redis_client, settings):
    from jobctl.core.scheduler import Scheduler

    enqueue_many(redis_client, settings, "noop", [{}], queue="payment-retry")
    scheduler = Scheduler(settings, alert_interval=0)
    scheduler.step(redis_client)
    assert scheduler.leading
    [rule] = [r for r in alert_rules.rule_states(redis_client, settings) if r["rule"] == "no_worker"]
    assert rule["subjects"][0]["subject"] == "payment-retry" and rule["subjects"][0]["firing"] is True
    scheduler.release(redis_client)
