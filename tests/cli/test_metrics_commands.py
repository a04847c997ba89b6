"""jobctl stats --window and jobctl metrics."""

from __future__ import annotations

from tests.core.test_metrics import aged_backlog, known_workload


def test_stats_window_json_and_table(cli, redis_client, settings, tmp_path):
    known_workload(redis_client, settings, tmp_path)
    data = cli.json("stats", "--window", "1h")
    window = data["window"]["queues"]["referral-commission"]
    assert data["window"]["seconds"] == 3600 and window["completed"] == 10 and window["dead"] == 3
    table = cli("stats", "--window", "15m").stdout
    assert "last 15m" in table and "referral-commission" in table
    assert all(len(line) <= 80 for line in table.splitlines())


def test_stats_window_shows_long_waits_and_says_when_past_the_top_bucket(cli, redis_client, settings):
    """The issue's case: with waits of minutes, `wait95` printed `-`; past a day it says `>1d`."""
    aged_backlog(redis_client, settings, "daily-reports", [239] * 10)
    aged_backlog(redis_client, settings, "weekly-reports", [60] * 10 + [3 * 86400] * 10)
    rows = {line.split()[0]: line.split() for line in cli("stats", "--window", "15m").stdout.splitlines()[1:]}
    assert rows["daily-reports"][-1] == "5m" and rows["weekly-reports"][-1] == ">1d"
    window = cli.json("stats", "--window", "15m")["window"]["queues"]
    assert window["daily-reports"]["wait_ms"]["p95"] == 300_000.0
    assert window["weekly-reports"]["wait_ms"]["beyond_top"] == ["p95", "p99"]


def test_bad_windows_exit_2(cli):
    assert "longer than the 30 days" in cli("stats", "--window", "31d", code=2).stderr
    assert "--window expects a duration" in cli("stats", "--window", "soon", code=2).stderr


def test_metrics_prints_prometheus_text(cli, redis_client, settings, tmp_path):
    known_workload(redis_client, settings, tmp_path)
    out = cli("metrics").stdout
    assert out.startswith("# HELP jobctl_queue_jobs") and out.endswith("\n")
    assert 'jobctl_jobs_total{outcome="failed",queue="referral-commission"} 4.0' in out.splitlines()
