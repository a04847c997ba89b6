"""A SIGKILLed worker: every face and the no_worker rule stop counting it within the heartbeat bound.

Before this, `stats`, `jobctl metrics`, the dash and the no_worker rule counted RQ's registration
sets, which a killed worker never leaves: they said 1 for minutes while `worker list` said dead.
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest
from fastapi.testclient import TestClient

from jobctl.config import load_settings
from jobctl.core import alert_rules, liveness, ops, tokens
from jobctl.core.bulk import enqueue_many
from jobctl.core.stats import list_workers, queue_stats
from jobctl.http import create_app
from jobctl.tui import data
from tests.conftest import Cli
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

Q = "payment-retry"
INTERVAL = 1


def _count(stats: dict) -> int:
    return next(q for q in stats["queues"] if q["queue"] == Q)["workers"]


def test_a_sigkilled_worker_leaves_every_count_within_the_heartbeat_bound(
    procs, redis_client, settings, monkeypatch
):
    default_reader = settings  # loaded before the override: JOBCTL_HEARTBEAT_INTERVAL 10
    monkeypatch.setenv("JOBCTL_HEARTBEAT_INTERVAL", str(INTERVAL))
    fast = load_settings()
    ops.pause_queue(redis_client, fast, Q)  # the jobs stay waiting, so no_worker has something to say
    enqueue_many(redis_client, fast, "noop", [{}] * 3, queue=Q)
    cli = Cli()
    token = tokens.create_token(redis_client, fast, "viewer", "viewer")["token"]
    viewer = {"Authorization": f"Bearer {token}"}

    worker = procs.jobctl("worker", "start", "--queue", Q)
    wait_for(
        lambda: [r for r in list_workers(redis_client, fast) if r["alive"]],
        timeout=20,
        what="the worker to register",
    )

    with TestClient(create_app(fast, redis_client)) as client:

        def faces() -> dict[str, int | bool]:
            """What each face says about the queue's workers right now."""
            metrics = cli("metrics").stdout
            gauge = re.search(rf'^jobctl_queue_workers{{queue="{Q}"}} ([\d.]+)$', metrics, re.M)
            return {
                "cli stats": _count(cli.json("stats", "--queue", Q)),
                "cli worker list": sum(w["alive"] for w in cli.json("worker", "list")["workers"]),
                "metrics": int(float(gauge[1])),  # prometheus_client writes 1.0
                "http stats": _count(client.get("/api/jobs/stats", headers=viewer).json()),
                "http queue": client.get(f"/api/jobs/queues/{Q}", headers=viewer).json()["workers"],
                "http workers": sum(
                    w["alive"] for w in client.get("/api/jobs/workers", headers=viewer).json()["workers"]
                ),
                "dash": _count(data.read_main(redis_client, fast)["stats"]),
                "dash workers panel": sum(w["alive"] for w in data.read_main(redis_client, fast)["workers"]),
                # a reader configured with 10 s judges the worker by the 1 s it recorded
                "reader with another interval": _count(queue_stats(redis_client, default_reader, Q)),
                "no_worker rule": int(
                    any(
                        c["rule"] == "no_worker" and c["subject"] == Q
                        for c in alert_rules.conditions(redis_client, fast)
                    )
                ),
            }

        before = faces()
        assert before == {**dict.fromkeys(before, 1), "no_worker rule": 0}, before

        os.kill(worker.pid, signal.SIGKILL)
        killed = time.monotonic()
        worker.wait(10)
        rounds: list[tuple[float, float, dict]] = []  # (started, ended, what the faces said)

        def all_agree_dead():
            started = time.monotonic() - killed
            said = faces()
            rounds.append((started, time.monotonic() - killed, said))
            return said == {**dict.fromkeys(said, 0), "no_worker rule": 1}

        wait_for(all_agree_dead, timeout=20, interval=0.1, what="every face to drop the killed worker")
        # The last beat came before the kill, so a round that starts after the bound sees every face
        # at 0: the first such round starts at most one (earlier) round's length past the bound.
        # Measured per round, so a slow, loaded machine does not make this flaky.
        started, _, _ = rounds[-1]
        previous = rounds[-2][1] - rounds[-2][0] if len(rounds) > 1 else 0
        assert started <= liveness.heartbeat_bound(INTERVAL) + previous + 0.5, rounds
        # the record is still there (it expires later): listed, and dead
        [row] = cli.json("worker", "list")["workers"]
        assert row["alive"] is False and row["pid"] == worker.pid
