from __future__ import annotations

import pytest

from jobctl.config import SECRET_MASK


def test_version_and_help(cli):
    assert cli("--version").stdout.startswith("jobctl ")
    out = cli("--help").stdout
    for noun in (
        "enqueue",
        "worker",
        "workers",
        "stats",
        "queue",
        "job",
        "email",
        "server",
        "config",
        "demo",
    ):
        assert noun in out


def test_config_show_masks_secrets_and_names_sources(cli, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret-pw")
    data = cli.json("config", "show")
    rows = {r["key"]: r for r in data["settings"]}
    assert rows["smtp_password"]["value"] == SECRET_MASK
    assert rows["smtp_password"]["source"] == "env SMTP_PASSWORD"
    assert rows["email_provider"]["source"] == "default"
    assert len(data["queues"]) == 8
    text = cli("config", "show").stdout
    assert "s3cret-pw" not in text and "smtp_password" in text


def test_config_show_lists_what_differs_from_defaults_and_all_with_all(cli, monkeypatch):
    monkeypatch.setenv("SMTP_PORT", "2525")
    data = cli.json("config", "show")
    rows = {r["key"]: r for r in data["settings"]}
    assert not rows["smtp_port"]["at_default"] and rows["email_provider"]["at_default"]
    at_default = sum(r["at_default"] for r in data["settings"])
    text = cli("config", "show").stdout
    assert "smtp_port" in text and "email_provider" not in text
    assert f"{at_default} settings at their defaults; --all shows every one" in text
    everything = cli("config", "show", "--all").stdout
    assert "email_provider" in everything and "at their defaults" not in everything


def test_redis_url_flag_beats_environment(cli):
    data = cli.json("--redis-url", "redis://127.0.0.1:1/0", "config", "show")
    rows = {r["key"]: r for r in data["settings"]}
    assert rows["redis_url"]["source"] == "flag"


def test_invalid_config_is_exit_2_naming_key_and_source(cli, tmp_path):
    (tmp_path / "jobctl.toml").write_text("[queues.email-sending]\nattempts = -3\n")
    result = cli("stats", code=2)
    assert "queues.email-sending.attempts" in result.stderr and "jobctl.toml" in result.stderr
    assert result.stderr.startswith("jobctl: error: ")


def test_invalid_config_in_json_mode_is_a_json_error(cli, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "http://nope")
    data = cli.json("stats", code=2)
    assert data["error"]["code"] == "config" and "REDIS_URL" in data["error"]["message"]


def test_unreachable_redis_is_exit_3_with_masked_url(cli, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://:topsecret@127.0.0.1:1/0")
    result = cli("stats", code=3)
    assert "127.0.0.1:1" in result.stderr and "topsecret" not in result.stderr
    assert "hint:" in result.stderr


def test_enqueue_noop_then_stats_queue_show_and_job_show(cli):
    job_id = cli.json("enqueue", "noop", "--queue", "payment-retry", "--priority", "high")["job_id"]
    stats = cli.json("stats")
    q = next(q for q in stats["queues"] if q["queue"] == "payment-retry")
    assert q["priorities"]["high"]["waiting"] == 1
    page = cli.json("queue", "show", "payment-retry")
    assert [j["id"] for j in page["jobs"]] == [job_id]
    job = cli.json("job", "show", job_id)
    assert job["status"] == "queued" and job["priority"] == "high" and job["queue"] == "payment-retry"
    assert job_id in cli("queue", "show", "payment-retry").stdout
    assert "payment-retry" in cli("job", "show", job_id).stdout


def test_bulk_noop_reports_count(cli):
    data = cli.json("enqueue", "noop", "--queue", "daily-reports", "--count", "25")
    assert data["count"] == 25 and len(set(data["job_ids"])) == 25


@pytest.mark.parametrize(
    "args, code, needle",
    [
        (("queue", "show", "emails"), 4, "unknown queue 'emails'"),
        (("job", "show", "no-such-job"), 4, "no job 'no-such-job'"),
        (("job", "show", "bad id"), 2, "invalid job id"),
        (("enqueue", "noop", "--queue", "emails"), 4, "unknown queue"),
        (("enqueue", "noop", "--priority", "urgent"), 2, "unknown priority"),
        (("queue", "show", "email-sending", "--state", "zombie"), 2, "unknown state"),
        (("worker", "start", "--queue", "dead-letter"), 2, "dead-letter"),
        (("worker", "start", "--queue", "nope", "--burst"), 4, "unknown queue"),
        (("worker", "start", "--queue", "email-sending", "--pool", "fibers"), 2, "--pool 'fibers' is not"),
    ],
)
def test_bad_input_one_line_error_and_exit_code(cli, args, code, needle):
    result = cli(*args, code=code)
    assert needle in result.stderr
    assert result.stderr.startswith("jobctl: error: ")


def test_unknown_command_is_usage_error(cli):
    cli("frobnicate", code=2)


def test_queue_list_and_worker_list(cli):
    names = [q["queue"] for q in cli.json("queue", "list")["queues"]]
    assert names[0] == "email-sending" and names[-1] == "dead-letter"
    assert cli.json("worker", "list") == {"workers": [], "hosts": []}
    assert "no workers" in cli("worker", "list").stdout


def test_server_status_json(cli):
    data = cli.json("server", "status")
    assert {"running", "pid", "socket", "version", "data_size", "url"} <= set(data)


def test_server_status_prints_the_url_rq_tools_take(cli, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://:topsecret@127.0.0.1:6379/0")
    assert cli.json("server", "status")["url"] == f"redis://:{SECRET_MASK}@127.0.0.1:6379/0"
    monkeypatch.delenv("REDIS_URL")  # the embedded server of this test's state folder
    data = cli.json("server", "status")
    assert data["url"] == f"unix://{data['socket']}"
    assert f"url: unix://{data['socket']}" in cli("server", "status").stdout
