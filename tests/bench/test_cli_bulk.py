"""bench/cli.py and bench/bulk.py on tiny runs: they keep working, so the benches cannot rot.

Each runs as `python3 dev.py bench cli|bulk` runs it (a script in the venv, with its own private
embedded server); the figures of so small a run mean little. What is checked: every row is there with
positive numbers, the measured commands did their work (the queue holds what was enqueued, clear left
nothing), and the server and its temporary folders are gone afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = pytest.mark.e2e  # starts a server and real jobctl, rq and node processes


def run_bench(script: str, tmp: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """The bench as a script; its temporary folders (server home, CSV, JOBCTL_HOME) go under `tmp`."""
    # the bench picks its own key prefix and server: none of the test process's settings go in
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBCTL_", "RQ_", "REDIS_"))}
    env["TMPDIR"] = str(tmp)
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=BENCH.parent,
    )


def test_cli_bench_times_every_command(tmp_path):
    done = run_bench("cli.py", tmp_path, "--runs", "2", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    rows = {r["name"]: r for r in result["rows"]}
    assert set(rows) == {"jobctl --version", "jobctl stats --json", "jobctl enqueue email", "rq info"}
    for row in rows.values():
        assert row["runs"] == 2
        assert 0 < row["min_ms"] <= row["median_ms"] <= row["max_ms"]
        assert row["rss_mib"] > 5  # a Python interpreter, at least
    assert rows["jobctl --version"]["target_ms"] == 100 and rows["rq info"]["target_ms"] is None
    assert rows["jobctl --version"]["meets"] == (rows["jobctl --version"]["median_ms"] <= 100)
    assert result["enqueued"] == {"expected": 3, "waiting": 3}  # one warm-up and two measured enqueues
    assert len(result["load"]) == 2
    assert list(tmp_path.glob("jobctl-bench-*")) == []  # the server's home and the commands' home are removed


def test_cli_bench_table(tmp_path):
    done = run_bench("cli.py", tmp_path, "--runs", "1", "--warmup", "0")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for name in ("jobctl --version", "jobctl stats --json", "jobctl enqueue email", "rq info"):
        assert name in out
    assert "meets" in out and "load average" in out and "queued by the enqueue runs: 1 of 1 (ok)" in out


def test_bulk_bench_on_300_rows(tmp_path):
    done = run_bench("bulk.py", tmp_path, "--rows", "300", "--chunk", "100", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["rows"] == 300 and result["csv"]["rows"] == 300
    for key in ("email_bulk", "noop", "clear"):
        assert key not in result["errors"], result["errors"]
        row = result[key]
        assert row["seconds"] > 0 and row["rate"] > 0 and row["rss_mib"] > 5
        assert row["found"] == 300 and row["check"], row  # queue length after the run, jobs removed
    assert result["email_bulk"]["reported"] == 300 and result["email_bulk"]["payload_bytes"][1] > 100
    assert result["clear"]["left"] == 0 and result["clear"]["keys_left"] == 0
    figures = {f["figure"]: f for f in result["figures"]}
    assert figures["email-bulk jobs/s"]["target"] == ">= 15,000"
    assert figures["email-bulk peak RSS MiB"]["meets"] is not None
    assert "clear 300 waiting s" in figures
    if "bullmq" in result["errors"]:  # no node/npm here: the bench says why and goes on
        assert "email-bulk / BullMQ addBulk" not in figures
    else:
        bull = result["bullmq"]
        assert bull["found"] == 300 and bull["check"] and bull["chunk"] == 100 and bull["rate"] > 0
        assert bull["payload_bytes"][1] > 100  # uncompressed, as jobctl's
        ratio = figures["email-bulk / BullMQ addBulk"]["measured"]
        assert float(ratio.rstrip("x")) == pytest.approx(
            result["email_bulk"]["rate"] / bull["rate"], abs=0.01
        )
    assert list(tmp_path.glob("jobctl-bench-*")) == []  # the CSV, the homes and the server are gone


def test_bulk_bench_table(tmp_path):
    done = run_bench("bulk.py", tmp_path, "--rows", "50", "--chunk", "20")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for figure in (
        "email-bulk jobs/s",
        "email-bulk peak RSS MiB",
        "noop --count jobs/s",
        "clear 50 waiting s",
    ):
        assert figure in out
    assert "waiting after: 50 of 50 (ok)" in out and "removed: 50 of 50 (ok)" in out
    assert "load average" in out and "MISMATCH" not in out
