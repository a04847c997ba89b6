"""The default schedules fire, real worker processes roll up and report from a store seeded by the CLI."""

from __future__ import annotations

import email
import json
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from email import policy
from pathlib import Path

import pytest

from jobctl.core import schedules

pytestmark = pytest.mark.e2e


def jobctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobctl", *args], capture_output=True, text=True, timeout=120
    )


def test_scheduled_reports_and_rollups_run_on_real_workers(
    procs, redis_client, settings, smtp_server, monkeypatch
):
    for key, value in {
        "JOBCTL_ADMIN_EMAILS": "ops@example.com",
        "EMAIL_PROVIDER": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_server.port),
        "SMTP_USER": smtp_server.credentials[0],
        "SMTP_PASSWORD": smtp_server.credentials[1],
        "JOBCTL_SMTP_SECURITY": "none",
    }.items():
        monkeypatch.setenv(key, value)
    seeded = jobctl("db", "seed", "--days", "8", "--users", "200", "--json")
    assert seeded.returncode == 0, seeded.stderr
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    assert json.loads(seeded.stdout)["end"] == yesterday.isoformat()

    # the defaults as a scheduler seeds them, then one tick just after 06:00 UTC today
    schedules.seed_defaults(redis_client, settings, now=datetime.combine(yesterday, time(5), UTC))
    fired = schedules.tick(redis_client, settings, datetime.combine(today, time(6, 0, 1), UTC))
    names = {r["name"] for r in fired if r["action"] == "fired"}
    assert {"daily-reports", "analytics-daily", "analytics-hourly"} <= names

    worker = procs.jobctl(
        "worker",
        "start",
        "--queue",
        "daily-reports",
        "--queue",
        "analytics-aggregation",
        "--queue",
        "email-sending",
        "--burst",
    )
    out, _ = worker.communicate(timeout=120)
    assert worker.returncode == 0, out

    listed = jobctl("report", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["reports"]
    assert {(r["kind"], r["period_start"], r["format"]) for r in rows} == {
        ("daily", yesterday.isoformat(), fmt) for fmt in ("pdf", "csv", "json")
    }

    shown = jobctl("analytics", "show", "--type", "daily", "--from", yesterday.isoformat(), "--json")
    assert shown.returncode == 0, shown.stderr
    [row] = json.loads(shown.stdout)["rows"]
    report = json.loads(Path(next(r["path"] for r in rows if r["format"] == "json")).read_text())
    revenue = next(m["value"] for m in report["metrics"] if m["name"] == "revenue")
    assert int(float(row["revenue"])) == revenue > 0  # the roll-up and the report agree

    [mail] = smtp_server.handler.messages  # the report, mailed to the admins with its files
    message = email.message_from_bytes(mail["data"], policy=policy.default)
    assert mail["rcpt_tos"] == ["ops@example.com"] and "Daily report" in message["Subject"]
    assert sorted(a.get_filename() for a in message.iter_attachments()) == [
        f"daily-{yesterday.isoformat()}.{fmt}" for fmt in ("csv", "json", "pdf")
    ]
