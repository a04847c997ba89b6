"""`jobctl alerts history`: the alert rules' transitions, newest first, as a table or JSON."""

from __future__ import annotations

from itertools import takewhile

from jobctl.core import alert_rules
from jobctl.core.bulk import enqueue_many
from jobctl.core.ops import clear_queue


def test_alerts_history_lists_transitions_newest_first(cli, redis_client, configure):
    settings = configure(JOBCTL_ALERT_COOLDOWN="0")
    assert "no alert has fired or resolved yet" in cli("alerts", "history").stdout
    enqueue_many(redis_client, settings, "noop", [{}] * 2, queue="payment-retry")  # and no worker
    alert_rules.evaluate(redis_client, settings)
    clear_queue(redis_client, settings, "payment-retry", "waiting")
    alert_rules.evaluate(redis_client, settings)
    lines = [line for line in cli("alerts", "history").stdout.splitlines() if "no_worker" in line]
    assert [line.split()[2] for line in lines] == ["resolved", "firing"]  # date, time, event, ...
    assert all("payment-retry" in line for line in lines)
    resolved, fired = cli.json("alerts", "history")["transitions"]
    assert fired["message"] == "payment-retry has 2 waiting jobs and no live worker" and fired["value"] == 2
    [newest] = cli.json("alerts", "history", "--limit", "1")["transitions"]
    assert newest == resolved and (newest["event"], newest["notified"]) == ("resolved", True)
    cli("alerts", "history", "--limit", "0", code=2)


def test_a_resolving_in_the_history_says_the_value_then_and_for_how_long(cli, redis_client, configure):
    settings = configure(
        JOBCTL_ALERT_COOLDOWN="0",
        JOBCTL_ALERT_QUEUE_SIZE="2",
        JOBCTL_ALERT_NO_WORKER="false",
        JOBCTL_ALERT_OLDEST_WAIT="0",  # a fixed clock ahead of the enqueue times: it would fire too
    )
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue="payment-retry")
    alert_rules.evaluate(redis_client, settings, now=1_800_000_000)
    clear_queue(redis_client, settings, "payment-retry", "waiting")
    enqueue_many(redis_client, settings, "noop", [{}], queue="payment-retry")
    alert_rules.evaluate(redis_client, settings, now=1_800_000_000 + 14 * 60)
    message = "payment-retry has 1 waiting job (threshold 2): resolved after firing for 14m"
    resolved, fired = cli.json("alerts", "history")["transitions"]
    assert (resolved["event"], resolved["value"], resolved["fired_for_seconds"]) == ("resolved", 1, 840)
    assert resolved["message"] == message and resolved["threshold"] == 2
    assert (fired["value"], fired["fired_for_seconds"]) == (3, None)
    lines = cli("alerts", "history").stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[2:3] == ["resolved"])
    assert lines[start].split()[2:6] == ["resolved", "queue_size", "payment-retry", "1"]
    # the message column folds in 80 columns (mid-word too): read down it, spaces aside, it is the message
    column = lines[0].index("message")
    rows = [lines[start], *takewhile(lambda line: not line[:column].strip(), lines[start + 1 :])]
    assert "".join("".join(line[column:] for line in rows).split()) == "".join(message.split())
