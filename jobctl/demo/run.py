"""The demo itself, run inside its own key namespace (see jobctl.demo, which starts this in a
process whose RQ_KEY_PREFIX is the demo's): workers on all seven job queues, the demo's jobs
enqueued, the cut-short uploads completed and their dead jobs replayed, and per-queue counts.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from jobctl.config import FIELDS, Settings, Value
from jobctl.core import dlq, keyspace, metrics
from jobctl.core.catalog import queue_catalog
from jobctl.core.connection import connect
from jobctl.core.logs import configure_logging
from jobctl.core.stats import queue_stats
from jobctl.core.submit import submit_many
from jobctl.core.supervisor import WorkerSpec, run_workers
from jobctl.demo.jobs import DemoPlan, build_plan
from jobctl.jobs.payments.sandbox import environment, start_sandbox

Progress = Callable[[dict[str, Any]], None]


def job_queues(settings: Settings) -> list[str]:
    return [name for name, policy in queue_catalog(settings).items() if not policy.is_dead_letter]


def _workers_main(settings: Settings, queues: list[str], concurrency: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the demo stops us with SIGTERM
    configure_logging(settings.log_level, settings.log_format)
    run_workers(settings, [WorkerSpec(queues) for _ in range(concurrency)])


def start_payments(settings: Settings) -> tuple[Settings, Callable[[], None]]:
    """Start the loopback sandbox payment provider in this process and point the settings (which the
    workers get) at it: its URLs and test keys, in place of the real providers' (blanked already)."""
    base_url, stop = start_sandbox("127.0.0.1", 0, settings=settings)
    values = dict(settings.values)
    for env, raw in environment(base_url).items():
        [f] = [f for f in FIELDS if f.env == env]
        values[f.name] = Value(f.parse(raw), "demo (payment sandbox)")
    return replace(settings, values=values), stop


class Counts:
    """The namespace's job counters (all of them are the demo's: the namespace is new)."""

    def __init__(self, connection, settings: Settings):
        self.connection, self.settings = connection, settings
        self.queues = job_queues(settings)

    def outstanding(self) -> int:
        stats = queue_stats(self.connection, self.settings)
        return sum(
            q["totals"]["waiting"] + q["totals"]["active"] + q["totals"]["scheduled"] for q in stats["queues"]
        )

    def per_queue(self) -> dict[str, dict[str, int]]:
        totals = metrics.totals(self.connection, self.queues)
        return {
            name: {k: totals[name].get(k, 0) for k in ("enqueued", "completed", "retried", "dead")}
            for name in self.queues
        }

    def dead_now(self) -> int:
        return int(self.connection.zcard(keyspace.dlq_index()))


def _wait_settled(
    counts: Counts, deadline: float, workers, progress: Progress, replayed: int, stage: str
) -> bool:
    """Until nothing waits, runs or is scheduled; False when the deadline passed or the workers died."""
    while True:
        left = counts.outstanding()
        per_queue = counts.per_queue()
        progress(
            {
                "stage": stage,
                "total": sum(q["enqueued"] for q in per_queue.values()) + replayed,
                "done": sum(q["completed"] + q["dead"] for q in per_queue.values()),
                "failed": counts.dead_now(),
            }
        )
        if left == 0:
            return True
        if time.monotonic() > deadline or not workers.is_alive():
            return False
        time.sleep(0.1)


def _enqueue(connection, settings: Settings, plan: DemoPlan) -> dict[str, list[str]]:
    ids = {}
    for group in plan.groups:
        ids[group.label] = submit_many(
            connection,
            settings,
            group.job_type,
            group.fields,
            priority=group.priority,
            description=f"demo: {group.label}",
        )
    return ids


def run(
    settings: Settings,
    *,
    folder: Path,
    campaign_size: int,
    concurrency: int,
    seed: int,
    timeout: float,
    progress: Progress,
) -> dict[str, Any]:
    settings, stop_payments = start_payments(settings)
    connection = connect(settings)
    queues = job_queues(settings)
    ctx = multiprocessing.get_context("spawn")
    workers = ctx.Process(
        target=_workers_main, args=(settings, queues, concurrency), name="jobctl-demo-workers"
    )
    workers.start()  # while the store is seeded: the workers are ready when the jobs are
    try:
        progress({"stage": "preparing", "total": 0, "done": 0, "failed": 0})
        plan = build_plan(settings, random.Random(seed), campaign_size, folder)
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        ids = _enqueue(connection, settings, plan)
        counts = Counts(connection, settings)
        settled = _wait_settled(counts, deadline, workers, progress, 0, "running")
        replayed: list[str] = []
        if settled and plan.pending_uploads:
            # the rest of each cut-short upload arrives; the dead jobs are replayed as on-call would
            for path, data in plan.pending_uploads.items():
                path.write_bytes(data)
            replayed = dlq.replay(connection, settings, ids["uploads cut short"])["replayed"]
            settled = _wait_settled(counts, deadline, workers, progress, len(replayed), "replaying")
        elapsed = time.perf_counter() - started
        per_queue = counts.per_queue()
        return {
            "settled": settled,
            "elapsed": elapsed,
            "queues": per_queue,
            "dead_letter": {
                "dead_lettered": sum(q["dead"] for q in per_queue.values()),
                "replayed": len(replayed),
                "left": counts.dead_now(),
            },
            "by_group": {g.label: len(g.fields) for g in plan.groups},
            "enqueued": plan.total,
            "seeded_rows": plan.seeded_rows,
        }
    finally:
        if workers.is_alive():
            os.kill(workers.pid, signal.SIGTERM)
        workers.join(30)
        if workers.is_alive():
            workers.kill()
        stop_payments()
        connection.close()
