"""Progress of the long commands (bulk enqueue, backfill, clear): the bar on a terminal shows the
stage, the count and a rate; off a terminal stderr stays empty; the final summary line (or, with
--json, count, elapsed_seconds and rate_per_second in the one JSON document)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from jobctl.core.stats import queue_key
from jobctl.core.submit import submit_many

SUMMARY_TAIL = r"in \d[\d,]*\.\d+ s \([\d,]+/s\)"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_a_terminal(*args: str) -> tuple[str, str, int]:
    """Run jobctl with stderr on a pseudo-terminal and stdout on a pipe: (terminal text without
    escape sequences, stdout, exit code)."""
    main, other = os.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobctl", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=other,
        env=env,
    )
    os.close(other)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(main)
    out, _ = proc.communicate(timeout=120)
    return ANSI.sub("", seen.decode(errors="replace")), out.decode(), proc.returncode


def test_bulk_enqueue_on_a_terminal_shows_stages_counts_and_rate(settings):
    screen, out, code = run_on_a_terminal("enqueue", "noop", "--queue", "payment-retry", "--count", "30000")
    assert code == 0, screen
    assert "validating" in screen and "enqueueing" in screen and "/30,000" in screen
    assert re.search(r"[\d,]+ jobs/s", screen)  # the rate
    assert re.search(r"\d:\d\d:\d\d", screen)  # the elapsed time
    assert re.fullmatch(rf"enqueued 30,000 no-op jobs on payment-retry {SUMMARY_TAIL}\n", out)


def test_clear_on_a_terminal_shows_its_stage_and_rate(settings, redis_client):
    submit_many(redis_client, settings, "noop", [{} for _ in range(25_000)], queue="payment-retry")
    screen, out, code = run_on_a_terminal("clear", "payment-retry", "--yes")
    assert code == 0, screen
    assert "clearing waiting" in screen and "25,000/25,000" in screen
    assert re.search(r"[\d,]+ jobs/s", screen)
    assert re.match(rf"payment-retry \(all priorities\): removed 25,000 job\(s\) {SUMMARY_TAIL}\n", out)
    assert redis_client.llen(queue_key("payment-retry:normal")) == 0


def test_off_a_terminal_only_the_summary_line_is_printed(cli):
    result = cli("enqueue", "noop", "--queue", "daily-reports", "--count", "1500")
    assert result.stderr == ""
    assert re.fullmatch(rf"enqueued 1,500 no-op jobs on daily-reports {SUMMARY_TAIL}\n", result.stdout)


def test_json_bulk_enqueue_is_one_document_with_the_figures(cli):
    result = cli("enqueue", "noop", "--queue", "daily-reports", "--count", "1500", "--json")
    data = json.loads(result.stdout)  # the whole of stdout: one document
    assert result.stderr == ""
    assert data["count"] == len(data["job_ids"]) == 1500
    assert data["elapsed_seconds"] > 0 and data["rate_per_second"] > 0
    assert abs(data["rate_per_second"] - 1500 / data["elapsed_seconds"]) <= 0.1 * data["rate_per_second"]


def test_email_bulk_summary_and_json(cli, tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text("email,name\n" + "".join(f"u{n}@example.com,U{n}\n" for n in range(300)))
    shared = ("--data", "login_url=https://shop.example/login")
    result = cli("enqueue", "email-bulk", "-t", "welcome", "--recipients", str(csv), *shared)
    assert re.fullmatch(rf"enqueued 300 email jobs on email-sending {SUMMARY_TAIL}\n", result.stdout)
    data = cli.json("enqueue", "email-bulk", "-t", "welcome", "--recipients", str(csv), *shared)
    assert data["count"] == len(data["job_ids"]) == 300 and data["rate_per_second"] > 0


def test_analytics_backfill_summary_and_json(cli):
    span = ("--type", "daily", "--from", "2024-01-01", "--to", "2024-02-29")
    result = cli("analytics", "schedule-custom", *span)
    assert re.fullmatch(
        rf"enqueued 60 daily roll-up jobs on analytics-aggregation {SUMMARY_TAIL}\n", result.stdout
    )
    data = cli.json("analytics", "schedule-custom", *span)
    assert data["count"] == len(data["job_ids"]) == 60 and data["type"] == "daily"
    assert data["elapsed_seconds"] > 0 and data["rate_per_second"] > 0
