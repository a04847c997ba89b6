"""The dash's main screen: numbers shown whole whatever they were before, the metrics figures
(throughput, error %, wait p95, oldest waiting age) as window_stats and oldest_waiting give them,
a read whose cost does not grow with the queues, and snapshots with six-digit numbers."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job
from rq.registry import FinishedJobRegistry
from rq.worker import Worker
from textual.app import App
from textual.widgets import DataTable

from jobctl.core import ops
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.metrics import quantile_text, window_stats
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.stats import oldest_waiting, queue_key
from jobctl.core.worker import JobctlJob, JobctlWorker
from jobctl.tui import data, widgets
from jobctl.tui.app import DashApp
from jobctl.tui.screens import MainScreen
from jobctl.tui.screens.base import NARROW_AFTER, sync_table
from tests.core.test_liveness import physical, register
from tests.redis_commands import commands_sent
from tests.tui.dash_helpers import FAST, Q, dead_jobs, drive, loaded, screen_text, settle, shown_line, until

BUSY = "referral-commission"


def whole(number: str, line: str) -> bool:
    """`number` stands alone in `line`: not cut, not part of a longer number."""
    return re.search(rf"(?<![\d,]){re.escape(number)}(?![\d,])", line) is not None


def worker_with_counts(conn, settings, name: str, done: int, failed: int = 0) -> None:
    register(conn, name, physical(settings, Q), age=1)
    conn.hset(
        Worker.redis_worker_namespace_prefix + name,
        mapping={"successful_job_count": done, "failed_job_count": failed},
    )


# --- numbers are shown whole ------------------------------------------------------------------------


class OneTable(App):
    def compose(self):
        yield DataTable()

    def on_mount(self):
        table = self.query_one(DataTable)
        table.add_column("queue", key="queue")
        table.add_column("wait", key="waiting")


def test_a_column_is_wide_enough_from_the_first_frame_and_narrows_back_later():
    """DataTable sizes auto-width columns on its next Idle; a frame painted before it cut 123,456
    to the header's width. sync_table sizes them when the data lands."""

    def line(table, y):
        return "".join(segment.text for segment in table.render_line(y)).rstrip()

    async def main():
        app = OneTable()
        async with app.run_test(size=(40, 6)) as pilot:
            table = app.query_one(DataTable)
            sync_table(table, [(Q, [Q, "0"])])
            await pilot.pause()
            sync_table(table, [(Q, [Q, "123,456"])])
            assert line(table, 1) == f" {Q}  123,456"  # no pause: before any Idle
            for _ in range(NARROW_AFTER - 1):  # a shorter value: the column waits before narrowing
                sync_table(table, [(Q, [Q, "7"])])
                assert line(table, 1) == f" {Q}  7" and table.columns["waiting"].width == len("123,456")
            sync_table(table, [(Q, [Q, "7"])])
            assert line(table, 1) == f" {Q}  7" and table.columns["waiting"].width == len("wait")

    asyncio.run(main())


@pytest.mark.parametrize("size", [(80, 24), (120, 35)], ids=["80x24", "120x35"])
def test_a_count_painted_after_0_is_shown_whole(size, redis_client, settings):
    """A real backlog of 123,456 jobs (about 7 s to enqueue, pipelined), read back from the screen."""
    worker_with_counts(redis_client, settings, "dash-worker", 9)
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        main = await loaded(pilot, MainScreen)
        queues = main.query_one("#queues")
        await until(pilot, lambda: whole("9", shown_line(app, "dash-worker")), "the worker's 9")
        await until(pilot, lambda: whole("0", shown_line(app, Q)), "0 waiting")
        assert queues.get_cell(Q, "waiting") == "0"
        enqueue_many(redis_client, settings, "noop", [{}] * 123_456, queue=Q)
        redis_client.hset(Worker.redis_worker_namespace_prefix + "dash-worker", "successful_job_count", 622)
        await until(pilot, lambda: queues.get_cell(Q, "waiting") == "123,456", "the backlog counted")
        await until(pilot, lambda: whole("622", shown_line(app, "dash-worker")), "the worker's 622, whole")
        await settle(pilot)
        assert whole("123,456", shown_line(app, Q)), screen_text(app)
        assert whole("622", shown_line(app, "dash-worker")), screen_text(app)
        assert not any(line.rstrip().endswith(("123,4", "123,45")) for line in screen_text(app).splitlines())

    drive(app, script, size=size)


# --- the figures ------------------------------------------------------------------------------------


def busy_queue(conn, settings) -> None:
    """10 jobs done and 3 failing ones (each failed attempt counts) under a burst worker, then a
    backlog of 5 whose oldest was enqueued 2 h ago."""
    enqueue_many(conn, settings, "noop", [{}] * 10, queue=BUSY)
    enqueue_many(conn, settings, "fail", [{"message": "no"}] * 3, queue=BUSY)
    JobctlWorker(
        [rq_queue(conn, q) for q in queue_catalog(settings)[BUSY].physical_names],
        connection=conn,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)
    [first, *_] = enqueue_many(conn, settings, "noop", [{}] * 5, queue=BUSY)
    at = datetime.now(UTC) - timedelta(hours=2)
    conn.hset(Job.key_for(first), "enqueued_at", at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def test_the_figures_are_window_stats_and_oldest_waiting(redis_client, settings):
    busy_queue(redis_client, settings)
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        main = await loaded(pilot, MainScreen)
        table = main.query_one("#queues")
        table.move_cursor(row=[k.value for k in table.rows].index(BUSY))
        await until(pilot, lambda: str(main.query_one("#detail").render()).startswith(BUSY), "its detail")
        await settle(pilot)
        w = window_stats(redis_client, [BUSY], data.WINDOW_MINUTES * 60)[BUSY]
        assert w["completed"] == 10 and w["failed"] >= 3  # a real workload, not an empty window
        assert oldest_waiting(redis_client, settings, [BUSY])[BUSY] == pytest.approx(7200, abs=60)
        expected = {
            "throughput": widgets.rate_text(w["throughput_per_minute"]),
            "errors": widgets.error_text(w),
            "wait_p95": quantile_text(w["wait_ms"], "p95"),
            "oldest": "2h",
        }
        assert expected["throughput"] == "0.67"  # 10 done in 15 minutes
        assert expected["errors"] == f"{w['failed'] / (10 + w['failed']) * 100:.1f}%"
        assert {key: table.get_cell(BUSY, key) for key in expected} == expected
        line = shown_line(app, BUSY)
        assert all(whole(text, line) or text in line for text in expected.values()), line
        detail = screen_text(app)
        assert f"{expected['throughput']} done/min" in detail and f"{expected['errors']} errors" in detail
        assert "oldest waiting 2h" in detail
        for key, label in (("processing_ms", "processing"), ("wait_ms", "wait")):
            quantiles = "   ".join(f"{p} {quantile_text(w[key], p)}" for p in ("p50", "p95", "p99"))
            assert quantiles in shown_line(app, label), shown_line(app, label)
        assert "priorities" in detail and "done, last 30m" in detail and "30m ago" in detail

    drive(app, script, size=(120, 35))


def test_read_main_costs_the_same_for_10_and_10_000_waiting_jobs(monkeypatch, redis_client, settings):
    def sent() -> Counter:
        # command names only: a minute bucket's key changes when the clock passes a minute
        return Counter(
            c.split()[0] for c in commands_sent(monkeypatch, lambda: data.read_main(redis_client, settings))
        )

    enqueue_many(redis_client, settings, "noop", [{}] * 10, queue=Q)
    small = sent()
    enqueue_many(redis_client, settings, "noop", [{}] * 9_990, queue=Q)
    assert sent() == small
    assert small["HGETALL"] == data.WINDOW_MINUTES * len(
        [n for n in queue_catalog(settings) if n != "dead-letter"]
    )


# --- snapshots (fixed metrics, ages and sparklines: the frozen fixture) -------------------------------


def large_numbers(conn, settings) -> None:
    """Six-digit counts without six-digit setup time: 2 real jobs and 123,454 bare ids on
    payment-retry's normal list, 234,567 ids on its finished registry (what LLEN and ZCARD count;
    the bare ids have no job hash), two real waiting jobs on email-sending, a dead letter, a worker
    with large counters."""
    dead_jobs(conn, settings, ["dead-a"])  # first: a worker is not meant to chew through the bare ids
    policy = queue_catalog(settings)[Q]
    normal = policy.physical("normal")
    enqueue_many(conn, settings, "noop", [{}] * 2, queue=Q, priority="normal", job_ids=["w1", "w2"])  # heads
    for start in range(2, 123_456, 20_000):
        conn.rpush(queue_key(normal), *(f"big-{i}" for i in range(start, min(start + 20_000, 123_456))))
    registry = FinishedJobRegistry(normal, connection=conn).key
    for start in range(0, 234_567, 20_000):
        conn.zadd(registry, {f"done-{i}": 4e9 for i in range(start, min(start + 20_000, 234_567))})
    enqueue_many(
        conn, settings, "noop", [{}] * 2, queue="email-sending", priority="high", job_ids=["e1", "e2"]
    )
    worker_with_counts(conn, settings, "worker-1.host-a", 123_456, 622)
    ops.pause_queue(conn, settings, "weekly-reports")


@pytest.mark.parametrize("size", [(80, 24), (120, 35)], ids=["80x24", "120x35"])
def test_snapshot_main_large_numbers(size, frozen, snap_compare, redis_client, settings):
    large_numbers(redis_client, settings)
    shown = {}

    async def ready(pilot):
        main = await loaded(pilot, MainScreen)
        table = main.query_one("#queues")
        table.move_cursor(row=[k.value for k in table.rows].index(Q))
        await until(pilot, lambda: str(main.query_one("#detail").render()).startswith(Q), "its detail")
        await settle(pilot)
        shown["text"] = screen_text(pilot.app)

    assert snap_compare(DashApp(settings, refresh_seconds=FAST), terminal_size=size, run_before=ready)
    line = next(line for line in shown["text"].splitlines() if line.strip().startswith(Q))
    assert whole("123,456", line) and "12m34s" in line  # waiting; the frozen age
    if size[0] >= 120:
        assert whole("234,567", line)  # done: the column is there when there is room
    assert whole("123,456", shown["text"].split("worker-1.host-a")[1].splitlines()[0])
