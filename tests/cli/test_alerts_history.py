"""`jobctl alerts history`: the alert rules' transitions, newest first, as a table or JSON."""

from __future__ import annotations

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
