"""Shared pieces of the dashboard's Pilot tests: setup of failed and dead jobs, bounded waits on a
condition (the dashboard reads in a worker thread), navigation, and frame settling for snapshots."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable

from rich.console import Console
from textual.widgets import DataTable

from jobctl.config import load_settings
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.stats import queue_stats
from jobctl.core.worker import JobctlJob, JobctlWorker
from jobctl.tui.app import DashApp
from jobctl.tui.screens import JobsScreen, MainScreen
from tests.rq_plain import PlainWorker

Q = "payment-retry"
FAST = 0.1  # refresh period in tests: conditions below are met within a few ticks


def with_failures(tmp_path, *queues: str):
    """Settings giving `queues` one attempt, so a failing job lands in RQ's failed registry."""
    (tmp_path / "jobctl.toml").write_text("".join(f"[queues.{q}]\nattempts = 1\n" for q in queues))
    return load_settings()


def failed_jobs(conn, settings, queue: str, ids: list[str]) -> list[str]:
    """Jobs that fail once under a plain RQ worker (burst, in process): RQ failed registry."""
    enqueue_many(
        conn, settings, "fail", [{"message": f"boom {i}"} for i in range(len(ids))], queue=queue, job_ids=ids
    )
    PlainWorker(
        [rq_queue(conn, p) for p in queue_catalog(settings)[queue].physical_names],
        connection=conn,
        serializer=PayloadSerializer,
    ).work(burst=True)
    return ids


def dead_jobs(conn, settings, ids: list[str], queue: str = Q) -> list[str]:
    """Jobs that fail for good under an in-process jobctl worker: dead-letter entries."""
    enqueue_many(
        conn, settings, "fail", [{"message": f"boom {i}"} for i in range(len(ids))], queue=queue, job_ids=ids
    )
    JobctlWorker(
        [rq_queue(conn, q) for q in queue_catalog(settings)[queue].physical_names],
        connection=conn,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)
    return ids


def totals(conn, settings, queue):
    return queue_stats(conn, settings, queue)["queues"][0]["totals"]


async def until(pilot, condition: Callable[[], object], what: str, timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await pilot.pause(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def drive(app: DashApp, script: Callable[..., Awaitable[None]], size=(80, 24)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await script(pilot)

    asyncio.run(main())


async def open_queue(pilot, queue: str) -> JobsScreen:
    app = pilot.app
    main = await until(
        pilot,
        lambda: isinstance(app.screen, MainScreen) and app.screen.loaded and app.screen,
        "the main screen's first read",
    )
    table = main.query_one("#queues")
    row = [k.value for k in table.rows].index(queue)
    table.move_cursor(row=row)
    await pilot.pause()
    await pilot.press("enter")
    return await until(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen, "the jobs screen")


async def to_state(pilot, screen: JobsScreen, state: str) -> None:
    while screen.state != state:
        await pilot.press("tab")
    await until(pilot, lambda: screen.loaded and screen.page["state"] == state, f"the {state} page")


def detail_text(screen) -> str:
    return str(screen.query_one("#detail").render())


SERIES = {"completed": [0, 1, 3, 5, 8, 5, 3, 2, 4, 6, 9, 12], "failed": [0, 0, 1, 0, 0, 2, 0, 0, 0, 1, 0, 0]}
# payment-retry's metrics in the frozen fixture: 15 minutes of a busy queue (minute-bucket fields)
WINDOW = {
    **{"completed": 185_020, "failed": 4_512, "proc_n": 189_532, "proc_ms": 189_532 * 240},
    **{"p4": 90_000, "p5": 80_000, "p7": 19_000, "p9": 532},  # processing: 100ms, 250ms, 1s, 5s
    **{"wait_n": 189_532, "wait_ms": 189_532 * 9_000},
    **{"w6": 100_000, "w8": 60_000, "w12": 29_000, "w13": 532},  # wait: 500ms, 2.5s, 1m, 5m
}
TRACEBACK = (
    'Traceback (most recent call last):\n  File "jobctl/jobs/noop.py", line 21, in fail\n'
    "jobctl.errors.PermanentJobFailure: boom 0\n"
)


async def loaded(pilot, kind):
    app = pilot.app
    screen = await until(
        pilot, lambda: isinstance(app.screen, kind) and app.screen.loaded and app.screen, kind.__name__
    )
    return screen


async def settle(pilot) -> None:
    """Before a screenshot: let the layout the data triggered (column widths) settle, then repaint
    every table on every screen whole. On a busy machine the screen sometimes kept lines painted
    for a table's old column widths (the table itself renders them right): flaky snapshots."""
    # no refresh after this point: one landing between here and the screenshot re-adds rows
    pilot.app.refresh_timer.pause()
    await until(pilot, lambda: pilot.app._reading is None or pilot.app._reading.is_finished, "the last read")
    # a DataTable sizes its columns for new rows on its next Idle event, which a busy machine can
    # deliver after the screenshot (seen: every column as narrow as its header)
    await until(
        pilot,
        lambda: (
            not any(
                t._require_update_dimensions or t._updated_cells
                for s in pilot.app.screen_stack
                for t in s.query(DataTable)
            )
        ),
        "the tables' column widths",
    )
    for _ in range(2):  # twice: a layout the first repaint triggers (a wider column) settles too
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        for screen in pilot.app.screen_stack:
            for table in screen.query(DataTable):
                table.refresh(layout=True)
        await pilot.pause(0.05)


def screen_text(app) -> str:
    """What the terminal shows, as text: the same composition export_screenshot turns into SVG."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), force_terminal=True, record=True, legacy_windows=False
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def shown_line(app, starts: str) -> str:
    """The screen line whose text starts with `starts` (leading spaces ignored); "" when none."""
    return next((line for line in screen_text(app).splitlines() if line.strip().startswith(starts)), "")
