"""bench/capacity.py on a tiny N: its measuring functions keep working, so the bench cannot rot.

The figures of so small a run mean little; what is checked is that each measurement runs end to end
against the bench's own private server, returns numbers of the right sign and size class, leaves no
key behind and stops the server."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "capacity.py"

pytestmark = pytest.mark.e2e  # starts a server and real worker processes


@pytest.fixture(scope="module")
def capacity():
    """bench/capacity.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("bench_capacity", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_every_measurement_runs_on_a_tiny_n(capacity, tmp_path, capsys):
    server = capacity.PrivateServer(tmp_path / "redis")
    conn = server.start()
    try:
        # the bench keeps the test process's key prefix: rq was imported before it
        assert capacity.prefix().startswith("jt-")
        assert conn.config_get("appendonly") == {"appendonly": "yes"}
        home = tmp_path / "bench-home"  # not the test's own JOBCTL_HOME: the bench's workers get theirs
        home.mkdir()
        setup = capacity.Setup(conn, server.url, home)
        args = argparse.Namespace(
            drain_jobs=300, processes="1,2", single_jobs=50, bulk_jobs=300, waiting=2_000, dead=150
        )
        result = capacity.run(setup, args)
        result["seconds"] = 0.0

        drain = {row["processes"]: row for row in result["drain"]}
        assert set(drain) == {1, 2}
        for row in drain.values():
            assert row["jobs"] == 300 and row["drain_rate"] > 0 and row["wall_rate"] > 0
            assert row["redis_cpu_us_per_job"] > 0
            assert row["commands_per_job"] >= 1  # a job is claimed and finished through Redis
        single, bulk = result["enqueue"]
        assert single["mode"] == "single" and bulk["mode"] == "bulk"
        assert single["commands_per_job"] > bulk["commands_per_job"]  # bulk pipelines its batches
        waiting, dead = result["waiting"], result["dead"]
        assert (
            waiting["jobs"] == 2_000 and 100 < waiting["bytes_per_job"] < 10_000
        )  # a hash and a list member
        assert dead["jobs"] == 150
        assert dead["bytes_per_entry"] > waiting["bytes_per_job"]  # entry, indexes, hash and result kept
        assert dead["entry_document_bytes"] > 0 and dead["job_hash_bytes"] > 0
        model = result["model"]
        assert model["ceiling_single_enqueue"] < model["ceiling_bulk_enqueue"]
        assert model["ceiling_single_enqueue"] == pytest.approx(
            1e6 / (single["redis_cpu_us_per_job"] + drain[1]["redis_cpu_us_per_job"])
        )
        assert list(conn.scan_iter(match=f"{capacity.prefix()}:*")) == []  # every measurement cleaned up

        capacity.render(result)
        out = capsys.readouterr().out
        assert "oversubscribe" in out and "jobs/s at 100% of one core" in out and "/proc/loadavg" in out
    finally:
        server.stop()
    assert server.proc.poll() is not None
