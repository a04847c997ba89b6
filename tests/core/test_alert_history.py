"""The alert rules' history: every firing and resolving transition the evaluator records, newest
first, a quiet one (within the cooldown) marked so, the stream capped."""

from __future__ import annotations

import pytest

from jobctl.core import alert_rules, alerts
from jobctl.core.bulk import enqueue_many
from jobctl.core.ops import clear_queue
from jobctl.errors import UsageError

QUEUE = "payment-retry"


def _events(redis_client) -> list[tuple[str, str, str, bool]]:
    return [(t["event"], t["rule"], t["subject"], t["notified"]) for t in alerts.history(redis_client, 10)]


def test_a_firing_and_its_resolving_are_recorded_newest_first(redis_client, configure):
    # a fixed clock, ahead of the jobs' enqueue times: the oldest-waiting rule off
    settings = configure(JOBCTL_ALERT_COOLDOWN="0", JOBCTL_ALERT_OLDEST_WAIT="0")
    assert alerts.history(redis_client) == []
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue=QUEUE)  # and no worker: no_worker fires
    alert_rules.evaluate(redis_client, settings, now=1_800_000_000)
    alert_rules.evaluate(redis_client, settings, now=1_800_000_010)  # still firing: no new transition
    clear_queue(redis_client, settings, QUEUE, "waiting")
    alert_rules.evaluate(redis_client, settings, now=1_800_000_020)
    resolved, fired = alerts.history(redis_client)
    assert (fired["event"], fired["rule"], fired["subject"]) == ("firing", "no_worker", QUEUE)
    assert fired["value"] == 3 and fired["threshold"] == 0 and fired["notified"] is True
    assert fired["message"] == f"{QUEUE} has 3 waiting jobs and no live worker"
    assert fired["at"] == "2027-01-15T08:00:00+00:00"
    assert (resolved["event"], resolved["at"]) == ("resolved", "2027-01-15T08:00:20+00:00")
    assert resolved["id"] > fired["id"]  # stream ids: newest first
    assert alerts.history(redis_client, 1) == [resolved]


def test_a_quiet_firing_within_the_cooldown_is_in_the_history_marked_not_notified(redis_client, configure):
    settings = configure(JOBCTL_ALERT_COOLDOWN="300")
    enqueue_many(redis_client, settings, "noop", [{}], queue=QUEUE)
    alert_rules.evaluate(redis_client, settings)
    clear_queue(redis_client, settings, QUEUE, "waiting")
    alert_rules.evaluate(redis_client, settings)
    enqueue_many(redis_client, settings, "noop", [{}], queue=QUEUE)
    assert alert_rules.evaluate(redis_client, settings) == []  # told nobody ...
    assert _events(redis_client) == [  # ... but the history shows it fired again
        ("firing", "no_worker", QUEUE, False),
        ("resolved", "no_worker", QUEUE, True),
        ("firing", "no_worker", QUEUE, True),
    ]


def test_the_history_is_capped_and_a_read_is_bounded(redis_client):
    for index in range(alerts.HISTORY_MAX_ENTRIES + 300):
        alerts.record_transition(
            redis_client, {"event": "firing", "rule": "queue_size", "subject": f"q{index}", "value": index}
        )
    kept = redis_client.xlen(alerts.HISTORY)
    # MAXLEN ~ trims whole stream nodes (100 entries each by default): about the cap, never far above
    assert alerts.HISTORY_MAX_ENTRIES <= kept < alerts.HISTORY_MAX_ENTRIES + 200
    newest = alerts.history(redis_client, 5)
    assert [t["subject"] for t in newest] == [f"q{i}" for i in range(1299, 1294, -1)]
    assert newest[0]["message"] is None and newest[0]["notified"] is None  # fields not given read as None
    assert len(alerts.history(redis_client, 5000)) == alerts.HISTORY_MAX_ENTRIES
    with pytest.raises(UsageError):
        alerts.history(redis_client, 0)
