"""Alerts never say "ok" unchecked: evaluations are recorded, one evaluator is elected among the
scheduler, `workers start` and `monitor`, and `alerts list` / `monitor --once` say what they know."""

from __future__ import annotations

import re
import time

from jobctl.core import alert_rules
from jobctl.core.alert_evaluator import LEASE_KEY, AlertEvaluator, evaluator_status
from jobctl.core.bulk import enqueue_many
from jobctl.core.ops import clear_queue
from jobctl.core.scheduler import Scheduler


def _states(rules: list[dict]) -> dict[str, str]:
    return {r["rule"]: r["state"] for r in rules}


def test_alerts_list_says_not_evaluated_until_an_evaluator_ran(cli, redis_client, settings):
    enqueue_many(
        redis_client, settings, "noop", [{}] * 3, queue="payment-retry"
    )  # no worker: no_worker fires
    before = cli.json("alerts", "list")
    assert before["evaluation"]["evaluated_at"] is None and before["evaluation"]["fresh"] is False
    assert set(_states(before["rules"]).values()) == {"not-evaluated"}  # not "ok": nobody looked
    text = cli("alerts", "list").stdout
    assert "not evaluated: no evaluator has run" in text and " ok " not in text

    evaluator = AlertEvaluator(settings, "monitor", interval=0)
    evaluator.step(redis_client)
    after = cli.json("alerts", "list")
    assert after["evaluation"]["fresh"] is True and after["evaluation"]["role"] == "monitor"
    assert _states(after["rules"]) == {
        "error_rate": "ok",
        "queue_size": "ok",
        "oldest_waiting": "ok",
        "no_worker": "firing",
        "worker_died": "ok",
    }
    [subject] = next(r for r in after["rules"] if r["rule"] == "no_worker")["subjects"]
    assert subject["subject"] == "payment-retry" and subject["state"] == "firing"
    assert "last evaluated" in cli("alerts", "list").stdout

    clear_queue(redis_client, settings, "payment-retry", "waiting")
    evaluator.step(redis_client)
    assert set(_states(cli.json("alerts", "list")["rules"]).values()) == {"ok"}


def test_an_evaluation_older_than_three_intervals_no_longer_vouches(cli, redis_client, settings):
    evaluator = AlertEvaluator(settings, "scheduler", interval=15)
    evaluator.step(redis_client, now=time.time() - 46)  # 3 x 15 s ago, and a second
    data = cli.json("alerts", "list")
    assert data["evaluation"]["stale_after_seconds"] == 45 and data["evaluation"]["fresh"] is False
    assert set(_states(data["rules"]).values()) == {"not-evaluated"}
    text = cli("alerts", "list").stdout
    assert "not evaluated: nothing evaluated the rules in the last 45s; last evaluated" in " ".join(
        text.split()
    )
    # well within the bound: vouches again (44 s ago went stale when a loaded machine took over a
    # second to start the CLI that reads it)
    evaluator.step(redis_client, now=time.time() - 30, force=True)
    assert set(_states(cli.json("alerts", "list")["rules"]).values()) == {"ok"}


def test_a_disabled_rule_is_off_not_ok(cli, configure, redis_client):
    settings = configure(JOBCTL_ALERT_QUEUE_SIZE="0")
    AlertEvaluator(settings, "monitor").step(redis_client)
    states = _states(cli.json("alerts", "list")["rules"])
    assert states["queue_size"] == "off" and states["no_worker"] == "ok"
    assert "alerts: 4 rules evaluated (1 off), all ok" in cli("monitor", "--once").stdout


def test_two_evaluators_only_one_evaluates(redis_client, settings):
    workers = AlertEvaluator(settings, "workers", interval=0)
    monitor = AlertEvaluator(settings, "monitor", interval=0)
    results = [(workers.step(redis_client), monitor.step(redis_client)) for _ in range(5)]
    assert all(w is not None for w, _ in results) and all(m is None for _, m in results)
    assert workers.holding and not monitor.holding
    record = alert_rules.last_evaluation(redis_client)
    assert (record["by"], record["role"], record["count"]) == (workers.name, "workers", 5)
    assert evaluator_status(redis_client)["holder"] == workers.name

    workers.release(redis_client)  # a clean stop: the standby takes over at its next step
    assert monitor.step(redis_client) is not None and workers.step(redis_client) is None
    record = alert_rules.last_evaluation(redis_client)
    assert (record["by"], record["role"], record["count"]) == (monitor.name, "monitor", 1)


def test_a_dead_holder_is_replaced_after_its_lease(redis_client, configure):
    settings = configure(JOBCTL_SCHEDULER_LEASE="1")
    dead = AlertEvaluator(settings, "workers", interval=0)
    standby = AlertEvaluator(settings, "monitor", interval=0)
    assert dead.step(redis_client) is not None and standby.step(redis_client) is None
    assert 0 < redis_client.pttl(LEASE_KEY) <= 1000
    time.sleep(1.1)  # the holder stopped renewing (killed): its lease runs out
    assert standby.step(redis_client) is not None
    assert alert_rules.last_evaluation(redis_client)["by"] == standby.name


def test_the_interval_counts_from_the_last_evaluation_by_anyone(redis_client, settings):
    now = time.time()
    first = AlertEvaluator(settings, "scheduler", interval=15)
    assert first.step(redis_client, now=now) is not None
    assert first.step(redis_client, now=now + 5) is None  # not due yet
    first.release(redis_client)
    second = AlertEvaluator(settings, "workers", interval=15)
    assert second.step(redis_client, now=now + 6) is None  # took over, but the last evaluation is recent
    assert second.holding and alert_rules.last_evaluation(redis_client, now + 6)["by"] == first.name
    assert second.step(redis_client, now=now + 15) is not None


def test_the_scheduler_and_a_monitor_share_the_election(cli, redis_client, settings):
    enqueue_many(redis_client, settings, "noop", [{}], queue="payment-retry")
    scheduler = Scheduler(settings, alert_interval=0)
    scheduler.step(redis_client)
    assert scheduler.alerts().holding
    assert alert_rules.last_evaluation(redis_client)["by"] == scheduler.name

    out = cli.json("monitor", "--once")  # the scheduler holds the lease: the monitor reports, not evaluates
    assert out["evaluated"] is False and out["changes"] == []
    assert out["evaluation"]["by"] == scheduler.name and out["evaluation"]["count"] == 1
    assert [f["rule"] for f in out["firing"]] == ["no_worker"]
    text = cli("monitor", "--once").stdout.splitlines()
    assert text[0].startswith("FIRING   no_worker       payment-retry has 1 waiting jobs")
    assert (
        text[-1].startswith("alerts: 5 rules evaluated, 1 firing (")
        and f"by {scheduler.name}, scheduler)" in text[-1]
    )
    scheduler.step(redis_client)
    assert alert_rules.last_evaluation(redis_client)["count"] == 2  # still the scheduler, nobody else
    scheduler.release(redis_client)
    assert evaluator_status(redis_client)["holder"] is None


def test_monitor_once_prints_a_summary_line_when_all_is_fine(cli, redis_client, settings):
    result = cli("monitor", "--once")
    [line] = result.stdout.splitlines()
    assert line.startswith("alerts: 5 rules evaluated, all ok (just now by ") and line.endswith(", monitor)")
    assert evaluator_status(redis_client)["holder"] is None  # --once gives the lease back
    data = cli.json("monitor", "--once")
    assert data["evaluated"] is True and data["firing"] == [] and data["evaluation"]["count"] == 1


def test_monitor_once_shows_what_fires_and_what_resolved(cli, redis_client, settings):
    enqueue_many(redis_client, settings, "noop", [{}] * 2, queue="payment-retry")
    lines = cli("monitor", "--once").stdout.splitlines()
    assert lines == [lines[0], lines[1]] and lines[0].startswith("FIRING   no_worker       payment-retry")
    assert lines[1].startswith("alerts: 5 rules evaluated, 1 firing (just now by ")
    clear_queue(redis_client, settings, "payment-retry", "waiting")
    lines = cli("monitor", "--once").stdout.splitlines()
    assert lines[0].startswith("resolved no_worker       payment-retry") and "all ok" in lines[1]
    # one line however long: the value now (no longer the firing's) and how long it fired
    assert re.fullmatch(
        r"resolved no_worker       payment-retry has 0 waiting jobs and no live worker: "
        r"resolved after firing for \d+s",
        lines[0],
    )


def test_monitor_once_exits_1_when_the_holder_has_not_evaluated_recently(cli, redis_client, settings):
    stuck = AlertEvaluator(settings, "workers", interval=15)
    stuck.step(redis_client, now=time.time() - 120)  # it holds the lease, its last evaluation is old
    result = cli("monitor", "--once", code=1)
    assert result.stdout.startswith("alerts: not evaluated: nothing evaluated the rules in the last 45s")
    assert cli.json("monitor", "--once", code=1)["evaluated"] is False
