"""`jobctl audit list`, and CLI changes recorded as the OS user's from face cli."""

from __future__ import annotations

from jobctl.core import audit, ops
from jobctl.core.bulk import enqueue_many

Q = "email-sending"


def test_cli_changes_are_recorded_as_the_os_users(cli, redis_client, settings):
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue=Q)
    cli("queue", "pause", Q)
    cli("clear", Q, "--yes")
    cli("clear", "nope", "--yes", code=4)
    got = [e for e in cli.json("audit", "list")["entries"] if e["action"] != "enqueue"]  # (the set-up's)
    assert [(e["actor"], e["face"], e["action"], e["target"], e["count"], e["outcome"]) for e in got] == [
        (audit.os_user(), "cli", "queue.clear", "nope", None, "failed"),
        (audit.os_user(), "cli", "queue.clear", Q, 3, "ok"),
        (audit.os_user(), "cli", "queue.pause", Q, 1, "ok"),
    ]
    # the CLI's actor ends with the command: library calls afterwards are the library's
    ops.resume_queue(redis_client, settings, Q)
    assert audit.list_entries(redis_client, limit=1)[0]["face"] == "api"


def test_filters_and_the_table(cli, redis_client, settings):
    with audit.acting_as(audit.Actor("deploy-bot", "http")):
        ops.pause_queue(redis_client, settings, Q)
    cli("queue", "resume", Q)
    assert [e["actor"] for e in cli.json("audit", "list", "--actor", "deploy-bot")["entries"]] == [
        "deploy-bot"
    ]
    assert [e["action"] for e in cli.json("audit", "list", "--action", "queue.resume")["entries"]] == [
        "queue.resume"
    ]
    assert [e["face"] for e in cli.json("audit", "list", "--face", "http")["entries"]] == ["http"]
    assert len(cli.json("audit", "list", "--since", "5m", "--limit", "1")["entries"]) == 1
    assert cli.json("audit", "list", "--since", "2999-01-01T00:00Z")["entries"] == []
    out = cli("audit", "list").stdout
    assert "deploy-bot" in out and "queue.pause" in out and "queue.resume" in out and "http" in out
    assert "no audit entries match" in cli("audit", "list", "--actor", "nobody").stdout


def test_bad_since_and_limit_are_usage_errors(cli):
    result = cli("audit", "list", "--since", "yesterday", code=2)
    assert result.stderr.splitlines()[0] == (
        "jobctl: error: --since expects a duration like 90s, 10m, 2h, 1d, 1w "
        "or 1h30m (a bare number is seconds) or an ISO time, got 'yesterday'"
    )
    assert "jobctl: error: limit must be at least 1" in cli("audit", "list", "--limit", "0", code=2).stderr
    assert "jobctl: error: unknown face 'mobile'" in cli("audit", "list", "--face", "mobile", code=2).stderr


def _enqueued(redis_client, settings, job_type, target, count=1):
    filters = {"type": job_type, "queue": "email-sending", "priority": "normal"}
    with audit.acting_as(audit.Actor("shop-api", "http")):
        audit.record(redis_client, settings, audit.Entry("enqueue", target, filters=filters, count=count))


def test_enqueue_entries_by_action_and_job_type(cli, redis_client, settings):
    _enqueued(redis_client, settings, "email", "e-1")
    _enqueued(redis_client, settings, "file", "f-1")
    _enqueued(redis_client, settings, "email", "e-2 .. e-41", count=40)
    ops.pause_queue(redis_client, settings, Q)
    got = cli.json("audit", "list", "--action", "enqueue", "--type", "email")["entries"]
    assert [(e["action"], e["target"], e["count"], e["filters"]["type"]) for e in got] == [
        ("enqueue", "e-2 .. e-41", 40, "email"),
        ("enqueue", "e-1", 1, "email"),
    ]
    assert [e["target"] for e in cli.json("audit", "list", "--type", "file")["entries"]] == ["f-1"]
    out = cli("audit", "list", "--action", "enqueue").stdout
    assert "e-2 .. e-41" in out and "f-1" in out and "queue.pause" not in out and "shop-api" in out
    assert "no audit entries match" in cli("audit", "list", "--type", "sleep").stdout


def test_stats_show_the_audit_logs_size(cli, redis_client, settings):
    for i in range(3):
        _enqueued(redis_client, settings, "email", f"e-{i}")
    data = cli.json("stats")
    assert data["audit"]["entries"] == 3 and data["audit"]["bytes"] > 0
    assert data["audit"] == audit.log_size(redis_client)
    oldest = data["audit"]["oldest"]
    text = cli("stats").stdout
    assert f"audit log: 3 entries, {data['audit']['bytes'] / 1024:.1f} KiB" in text, text
    assert f"oldest {oldest[:10]} {oldest[11:16]} UTC" in text
    assert "audit" not in cli.json("stats", "--queue", Q)  # one queue's view
    assert "audit log" not in cli("stats", "--queue", Q).stdout
