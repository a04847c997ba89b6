"""GET /api/alerts: `jobctl alerts list --json` over HTTP (the same core call)."""

from __future__ import annotations

import time

from jobctl.core import alert_rules
from jobctl.core.bulk import enqueue_many
from jobctl.core.ops import clear_queue
from tests.http.conftest import bearer


def _without_age(data: dict) -> dict:
    # the evaluation's age is computed at read time: two reads differ by the time between them
    return {**data, "evaluation": {k: v for k, v in data["evaluation"].items() if k != "age_seconds"}}


def test_not_evaluated_until_an_evaluator_ran(client, creds, cli):
    response = client.get("/api/alerts", headers=bearer(creds["viewer"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["evaluation"]["evaluated_at"] is None and body["evaluation"]["fresh"] is False
    assert [r["rule"] for r in body["rules"]] == list(alert_rules.RULES)
    assert {r["state"] for r in body["rules"] if r["enabled"]} == {"not-evaluated"}
    assert body == cli.json("alerts", "list")


def test_a_firing_rule_with_its_subject_since_and_last_fired(client, creds, cli, redis_client, settings):
    enqueue_many(redis_client, settings, "noop", [{}] * 2, queue="payment-retry")  # and no worker
    alert_rules.evaluate(redis_client, settings)
    alert_rules.record_evaluation(
        redis_client, settings, by="test-monitor", role="monitor", interval=60, now=time.time()
    )
    body = client.get("/api/alerts", headers=bearer(creds["viewer"])).json()
    rules = {r["rule"]: r for r in body["rules"]}
    assert rules["no_worker"]["state"] == "firing" and rules["worker_died"]["state"] == "ok"
    [subject] = rules["no_worker"]["subjects"]
    assert subject["subject"] == "payment-retry" and subject["state"] == "firing"
    assert subject["since"] and subject["last_fired"]
    assert body["evaluation"]["by"] == "test-monitor" and body["evaluation"]["fresh"] is True
    assert _without_age(body) == _without_age(cli.json("alerts", "list"))


def test_no_token_is_refused_once_tokens_exist(client, creds):
    response = client.get("/api/alerts")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_the_history_of_firings_and_resolvings_newest_first(client, creds, cli, redis_client, configure):
    settings = configure(JOBCTL_ALERT_COOLDOWN="0")
    assert client.get("/api/alerts/history", headers=bearer(creds["viewer"])).json() == {"transitions": []}
    enqueue_many(redis_client, settings, "noop", [{}] * 2, queue="payment-retry")  # and no worker
    alert_rules.evaluate(redis_client, settings)
    clear_queue(redis_client, settings, "payment-retry", "waiting")
    alert_rules.evaluate(redis_client, settings)
    response = client.get("/api/alerts/history", headers=bearer(creds["viewer"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(t["event"], t["rule"], t["subject"]) for t in body["transitions"]] == [
        ("resolved", "no_worker", "payment-retry"),
        ("firing", "no_worker", "payment-retry"),
    ]
    assert body == cli.json("alerts", "history")
    [newest] = client.get("/api/alerts/history?limit=1", headers=bearer(creds["viewer"])).json()[
        "transitions"
    ]
    assert newest == body["transitions"][0]
    assert client.get("/api/alerts/history?limit=0", headers=bearer(creds["viewer"])).status_code == 422
    assert client.get("/api/alerts/history").status_code in (401, 403)  # no token: refused


def test_a_resolving_over_http_says_the_value_then_and_for_how_long(
    client, creds, cli, redis_client, configure
):
    settings = configure(
        JOBCTL_ALERT_COOLDOWN="0",
        JOBCTL_ALERT_QUEUE_SIZE="2",
        JOBCTL_ALERT_NO_WORKER="false",
        JOBCTL_ALERT_OLDEST_WAIT="0",  # a fixed clock ahead of the enqueue times: it would fire too
    )
    enqueue_many(redis_client, settings, "noop", [{}] * 4, queue="payment-retry")
    alert_rules.evaluate(redis_client, settings, now=1_800_000_000)
    clear_queue(redis_client, settings, "payment-retry", "waiting")
    alert_rules.evaluate(redis_client, settings, now=1_800_000_000 + 3725)
    body = client.get("/api/alerts/history", headers=bearer(creds["viewer"])).json()
    resolved, fired = body["transitions"]
    assert (resolved["event"], resolved["value"], resolved["threshold"]) == ("resolved", 0, 2)
    assert resolved["fired_for_seconds"] == 3725
    assert (
        resolved["message"]
        == "payment-retry has 0 waiting jobs (threshold 2): resolved after firing for 1h2m5s"
    )
    assert (fired["event"], fired["value"], fired["fired_for_seconds"]) == ("firing", 4, None)
    assert body == cli.json("alerts", "history")
