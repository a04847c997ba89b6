"""`jobctl dash` driven by Textual's Pilot against the real Redis of the test session.

Every wait is a bounded loop on a condition (the dashboard reads in a worker thread), never a
sleep racing the refresh timer.
"""

from __future__ import annotations

import time

from jobctl.config import load_settings
from jobctl.core import audit, dlq, ops
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.worker import JobctlJob, JobctlWorker
from jobctl.tui import data, widgets
from jobctl.tui.app import DashApp
from jobctl.tui.screens import DeadLetterScreen, MainScreen
from jobctl.tui.widgets import ConfirmScreen, HelpScreen, UnreachableScreen
from tests.rq_plain import PlainWorker
from tests.tui.dash_helpers import (
    FAST,
    Q,
    dead_jobs,
    detail_text,
    drive,
    failed_jobs,
    loaded,
    open_queue,
    settle,
    to_state,
    totals,
    until,
    with_failures,
)

# --- navigation and job actions -------------------------------------------------------------------


def test_navigate_to_a_failed_job_and_see_its_error(redis_client, tmp_path):
    settings = with_failures(tmp_path, Q)
    [job_id] = failed_jobs(redis_client, settings, Q, ["failed-job-1"])
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue=Q)
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        main = await until(
            pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded and app.screen, "main"
        )
        table = main.query_one("#queues")
        assert [table.get_cell(Q, key) for key in ("queue", "waiting", "failed")] == [Q, "3", "1"]
        screen = await open_queue(pilot, Q)
        assert screen.queue == Q and screen.state == "waiting"
        await until(pilot, lambda: screen.loaded and screen.page["total"] == 3, "3 waiting jobs")
        await to_state(pilot, screen, "failed")
        assert [j["id"] for j in screen.page["jobs"]] == [job_id]
        await until(
            pilot, lambda: "PermanentJobFailure" in detail_text(screen), "the error in the detail pane"
        )
        text = detail_text(screen)
        assert "Traceback" in text and "boom 0" in text and '"message": "boom 0"' in text
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "back on the main screen")

    drive(app, script)


def test_job_and_dead_letter_details_are_redacted(redis_client, tmp_path):
    settings = with_failures(tmp_path, Q)
    secret = "ada.lovelace@example.com"
    enqueue_many(
        redis_client,
        settings,
        "noop",
        [{"to": secret, "api_key": "sk_live_abcdef123456"}],
        queue=Q,
        job_ids=["pii-1"],
    )
    enqueue_many(
        redis_client, settings, "fail", [{"message": f"refused {secret}"}], queue=Q, job_ids=["pii-dead"]
    )
    JobctlWorker(
        [rq_queue(redis_client, q) for q in queue_catalog(settings)[Q].physical_names],
        connection=redis_client,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)
    enqueue_many(
        redis_client,
        settings,
        "noop",
        [{"to": secret, "api_key": "sk_live_abcdef123456"}],
        queue=Q,
        job_ids=["pii-2"],
    )
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        screen = await open_queue(pilot, Q)
        await until(pilot, lambda: screen.loaded and screen.page["total"] == 1, "the waiting job")
        await until(pilot, lambda: "a***@example.com" in detail_text(screen), "the redacted address")
        assert "lovelace" not in detail_text(screen) and "sk_live_abcdef123456" not in detail_text(screen)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "back on the main screen")
        await pilot.press("D")
        dead = await until(
            pilot,
            lambda: isinstance(app.screen, DeadLetterScreen) and app.screen.loaded and app.screen,
            "the dead letters",
        )
        await until(pilot, lambda: "a***@example.com" in str(dead.query_one("#entry").render()), "the entry")
        assert "lovelace" not in str(dead.query_one("#entry").render())

    drive(app, script)


def test_retry_a_failed_job_puts_it_back_on_its_queue(redis_client, tmp_path):
    settings = with_failures(tmp_path, Q)
    [job_id] = failed_jobs(redis_client, settings, Q, ["retry-me"])
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        screen = await open_queue(pilot, Q)
        await to_state(pilot, screen, "failed")
        await until(pilot, lambda: screen.selected == job_id, "the failed job selected")
        await pilot.press("r")
        await until(
            pilot, lambda: totals(redis_client, settings, Q)["waiting"] == 1, "the job back on its queue"
        )
        t = totals(redis_client, settings, Q)
        assert t["failed"] == 0
        assert redis_client.lrange(
            rq_queue(redis_client, queue_catalog(settings)[Q].physical("normal")).key, 0, -1
        ) == [job_id.encode()]
        await until(pilot, lambda: screen.page["total"] == 0, "the failed list refreshed")

    drive(app, script)


def test_delete_asks_and_deletes(redis_client, settings):
    ids = enqueue_many(redis_client, settings, "noop", [{}] * 2, queue=Q, job_ids=["del-a", "del-b"])
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        screen = await open_queue(pilot, Q)
        await until(pilot, lambda: screen.selected == ids[0], "the first job selected")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: totals(redis_client, settings, Q)["waiting"] == 1, "one job deleted")
        assert ops.delete_jobs(redis_client, settings, [ids[0]])["not_found"] == [ids[0]]

    drive(app, script)


def test_clear_with_cancel_keeps_and_with_confirm_removes(redis_client, settings):
    enqueue_many(redis_client, settings, "noop", [{}] * 5, queue=Q)
    other = enqueue_many(redis_client, settings, "noop", [{}] * 2, queue="referral-commission")
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        screen = await open_queue(pilot, Q)
        await until(pilot, lambda: screen.loaded and screen.page["total"] == 5, "5 waiting")
        await pilot.press("c")
        modal = await until(
            pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the confirmation"
        )
        assert "5 waiting job(s) of payment-retry" in modal.question
        assert modal.focused is modal.query_one("#no")  # Enter alone answers No
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen, "the modal closed")
        for _ in range(5):  # a few refreshes: nothing happened
            await pilot.pause(FAST)
        assert totals(redis_client, settings, Q)["waiting"] == 5

        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation again")
        await pilot.click("#yes")
        await until(pilot, lambda: totals(redis_client, settings, Q)["waiting"] == 0, "the queue cleared")
        await until(pilot, lambda: screen.page["total"] == 0, "the list refreshed")
        assert totals(redis_client, settings, "referral-commission")["waiting"] == len(other)

    drive(app, script)


def test_pause_and_resume_toggle(redis_client, settings):
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        main = await until(
            pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded and app.screen, "main"
        )
        table = main.query_one("#queues")
        table.move_cursor(row=[k.value for k in table.rows].index(Q))
        await pilot.pause()
        await pilot.press("p")
        await until(pilot, lambda: Q in ops.paused_queues(redis_client), "paused")
        await until(pilot, lambda: str(table.get_cell(Q, "paused")) == "||", "the paused marker")
        await pilot.press("p")
        await until(pilot, lambda: Q not in ops.paused_queues(redis_client), "resumed")
        await until(pilot, lambda: str(table.get_cell(Q, "paused")) == "", "the marker gone")
        screen = await open_queue(pilot, Q)
        await pilot.press("p")
        await until(pilot, lambda: Q in ops.paused_queues(redis_client), "paused from the jobs screen")
        await until(pilot, lambda: screen.paused, "shown paused")

    drive(app, script)
    # each toggle is in the audit log as the dash's (face tui), by the OS user running it
    entries = audit.list_entries(redis_client, since=time.time() - 600)
    assert [(e["action"], e["target"], e["face"], e["outcome"]) for e in entries] == [
        ("queue.pause", Q, "tui", "ok"),
        ("queue.resume", Q, "tui", "ok"),
        ("queue.pause", Q, "tui", "ok"),
    ]
    assert {e["actor"] for e in entries} == {audit.os_user()}


def test_job_pages_and_workers_panel(monkeypatch, redis_client, settings):
    monkeypatch.setattr(data, "PAGE", 2)
    ids = enqueue_many(redis_client, settings, "noop", [{}] * 5, queue=Q, job_ids=[f"p{i}" for i in range(5)])
    worker = PlainWorker(
        [rq_queue(redis_client, p) for p in queue_catalog(settings)[Q].physical_names],
        connection=redis_client,
        serializer=PayloadSerializer,
        name="dash-test-worker",
    )
    worker.register_birth()
    app = DashApp(settings, refresh_seconds=FAST)

    def shown(screen):
        return [j["id"] for j in screen.page["jobs"]] if screen.loaded and screen.page else None

    async def script(pilot):
        main = await until(
            pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded and app.screen, "main"
        )
        workers = main.query_one("#workers")
        await until(pilot, lambda: workers.row_count == 1, "the worker listed")
        assert workers.get_cell("dash-test-worker", "worker") == "dash-test-worker"
        assert workers.get_cell("dash-test-worker", "queues") == Q
        assert main.query_one("#queues").get_cell(Q, "workers") == "1"
        screen = await open_queue(pilot, Q)
        await until(pilot, lambda: shown(screen) == ids[:2], "page 1")
        await pilot.press("n")
        await until(pilot, lambda: shown(screen) == ids[2:4], "page 2")
        await pilot.press("n")
        await until(pilot, lambda: shown(screen) == ids[4:], "page 3")
        await pilot.press("n")  # no further page
        await pilot.press("N")
        await until(pilot, lambda: shown(screen) == ids[2:4], "back to page 2")
        await pilot.press("tab")  # another state starts on its first page
        await until(pilot, lambda: screen.state == "scheduled" and shown(screen) == [], "scheduled, empty")
        assert screen.page_offset == 0

    try:
        drive(app, script)
    finally:
        worker.register_death()


def test_dead_letter_row_counts_its_entries_and_opens_the_dead_letter_screen(redis_client, settings):
    dead_jobs(redis_client, settings, ["dead-a", "dead-b"])
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        main = await loaded(pilot, MainScreen)
        table = main.query_one("#queues")
        assert [table.get_cell("dead-letter", key) for key in ("waiting", "failed", "workers")] == [
            "0",
            "2",
            "-",
        ]
        table.move_cursor(row=[k.value for k in table.rows].index("dead-letter"))
        await pilot.pause()
        await pilot.press("enter")
        screen = await until(pilot, lambda: isinstance(app.screen, DeadLetterScreen) and app.screen, "DLQ")
        await until(
            pilot,
            lambda: (
                screen.loaded and sorted(e["job_id"] for e in screen.page["entries"]) == ["dead-a", "dead-b"]
            ),
            "its entries",
        )

    drive(app, script)


def test_workers_panel_counts_live_workers_and_marks_dead_ones(redis_client, settings):
    from tests.core.test_liveness import physical, register

    register(redis_client, "live-worker", physical(settings, Q), age=1)
    register(redis_client, "dead-worker", physical(settings, Q), age=300)  # SIGKILLed: no death mark
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        main = await loaded(pilot, MainScreen)
        title = str(main.query_one("#workers-title").render())
        assert title.startswith("workers: 1 (+1 dead)"), title
        assert main.query_one("#queues").get_cell(Q, "workers") == "1"
        workers = main.query_one("#workers")
        assert str(workers.get_cell("dead-worker", "state")) == "dead"
        assert workers.get_cell("live-worker", "state") == "idle"

    drive(app, script)


def test_sparklines_are_empty_when_the_metrics_read_fails(monkeypatch, redis_client):
    def broken(*args, **kwargs):
        raise KeyError("a metrics bug")

    monkeypatch.setattr(data, "recent_series", broken)
    assert data.series(redis_client, Q) == {"completed": [], "failed": []}
    assert widgets.sparkline([], 8) == " " * 8
    assert widgets.sparkline([0, 0, 4, 8], 3) == "▁▅█"


def test_sparklines_read_the_metrics(redis_client):
    series = data.series(redis_client, Q)
    assert len(series["completed"]) == data.SPARK_MINUTES and set(series["completed"]) == {0}


def test_cli_command_builds_settings_and_runs_the_app(monkeypatch):
    import typer
    from typer.testing import CliRunner

    from jobctl.cli import dash

    ran = {}
    monkeypatch.setattr(
        DashApp, "run", lambda self: ran.update(refresh=self.refresh_seconds, settings=self.settings)
    )
    cli = typer.Typer()
    cli.command("dash")(dash.dash)
    cli.command("other")(lambda: None)  # two commands: typer keeps "dash" as a sub-command
    result = CliRunner().invoke(cli, ["dash", "--refresh", "0.5"])
    assert result.exit_code == 0, result.output
    assert ran["refresh"] == 0.5 and queue_catalog(ran["settings"])


# --- dead letters ---------------------------------------------------------------------------------


def test_dead_letters_filter_replay_and_purge(redis_client, settings):
    dead_jobs(redis_client, settings, ["dead-a", "dead-b"])
    enqueue_many(
        redis_client,
        settings,
        "fail",
        [{"message": "other trouble"}],
        queue="referral-commission",
        job_ids=["dead-c"],
    )
    JobctlWorker(
        [rq_queue(redis_client, q) for q in queue_catalog(settings)["referral-commission"].physical_names],
        connection=redis_client,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        await until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded, "main")
        await pilot.press("D")
        screen = await until(pilot, lambda: isinstance(app.screen, DeadLetterScreen) and app.screen, "DLQ")
        await until(pilot, lambda: screen.loaded and len(screen.page["entries"]) == 3, "3 entries")

        await pilot.press("slash")
        await pilot.press(*"other")
        await pilot.press("enter")
        await until(
            pilot,
            lambda: screen.loaded and [e["job_id"] for e in screen.page["entries"]] == ["dead-c"],
            "the error-text filter",
        )
        screen.query_one("#filter").value = ""
        await pilot.press("slash")
        await pilot.press(*Q, "enter")
        await until(
            pilot,
            lambda: (
                screen.loaded and sorted(e["job_id"] for e in screen.page["entries"]) == ["dead-a", "dead-b"]
            ),
            "the queue filter",
        )

        target = screen.page["entries"][0]["job_id"]
        await until(
            pilot,
            lambda: screen.selected == target and target in str(screen.query_one("#entry").render()),
            "the entry's detail",
        )
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the replay confirmation")
        await pilot.press("n")  # No: nothing replayed
        await until(pilot, lambda: app.screen is screen, "modal closed")
        assert dlq.read_entry(redis_client, target)["state"] == "dead"
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the replay confirmation")
        await pilot.press("y")
        await until(pilot, lambda: dlq.read_entry(redis_client, target)["state"] == "replayed", "replayed")
        physical = queue_catalog(settings)[Q].physical("normal")
        assert target.encode() in redis_client.lrange(rq_queue(redis_client, physical).key, 0, -1)
        await until(
            pilot,
            lambda: (
                [e["job_id"] for e in screen.page["entries"]] != []
                and target not in [e["job_id"] for e in screen.page["entries"]]
            ),
            "the list without it",
        )

        remaining = screen.page["entries"][0]["job_id"]
        await until(pilot, lambda: screen.selected == remaining, "the other entry selected")
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the purge confirmation")
        await pilot.press("y")
        await until(pilot, lambda: dlq.read_entry(redis_client, remaining) is None, "purged")
        assert [e["job_id"] for e in dlq.list_entries(redis_client, settings)["entries"]] == ["dead-c"]

    drive(app, script)
    replay, purge = (
        audit.list_entries(redis_client, action="dlq.replay"),
        audit.list_entries(redis_client, action="dlq.purge"),
    )
    assert len(replay) == 1 and len(purge) == 1  # the "No" answer changed nothing and recorded nothing
    assert replay[0]["face"] == purge[0]["face"] == "tui" and replay[0]["count"] == purge[0]["count"] == 1
    assert dlq.read_entry(redis_client, replay[0]["target"])["replays"][0]["by"] == f"{audit.os_user()} (tui)"


# --- Redis unreachable ----------------------------------------------------------------------------


def test_unreachable_redis_screen_and_recovery(monkeypatch, tmp_path):
    from tests.e2e.conftest import OwnRedis

    server = OwnRedis(tmp_path)
    server.start()
    try:
        monkeypatch.setenv("REDIS_URL", server.url)
        settings = load_settings()
        app = DashApp(settings, refresh_seconds=FAST, retry_seconds=0.2)

        async def script(pilot):
            await until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded, "main")
            server.kill()
            down = await until(
                pilot,
                lambda: isinstance(app.screen, UnreachableScreen) and app.screen,
                "the unreachable screen",
            )
            assert f"127.0.0.1:{server.port}" in down.message and "is unreachable" in down.message
            assert "Retrying every 0.2 s" in down.message
            server.start()
            await until(pilot, lambda: isinstance(app.screen, MainScreen) and app.down is None, "recovered")

        drive(app, script)
    finally:
        server.kill()


def test_unreachable_from_the_start_masks_the_password(monkeypatch):
    from tests.e2e.conftest import free_port

    monkeypatch.setenv("REDIS_URL", f"redis://:s3cret@127.0.0.1:{free_port()}/0")  # nothing listens there
    app = DashApp(load_settings(), refresh_seconds=FAST, retry_seconds=0.2)

    async def script(pilot):
        down = await until(
            pilot, lambda: isinstance(app.screen, UnreachableScreen) and app.screen, "the unreachable screen"
        )
        assert (
            "s3cret" not in down.message and "127.0.0.1" in down.message and "is unreachable" in down.message
        )
        await pilot.press("question_mark")  # no help, no actions on top of stale data: just the notice
        await pilot.pause()
        assert isinstance(app.screen, UnreachableScreen)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, "quit")

    drive(app, script)


# --- snapshots (fixed ids, times masked, fixed sparklines, no clock) ------------------------------


def test_snapshot_main_80x24(frozen, snap_compare, redis_client, settings):
    enqueue_many(redis_client, settings, "noop", [{}] * 7, queue=Q, job_ids=[f"w{i}" for i in range(7)])
    enqueue_many(
        redis_client, settings, "noop", [{}] * 2, queue="email-sending", priority="high", job_ids=["e1", "e2"]
    )
    ops.pause_queue(redis_client, settings, "weekly-reports")

    async def ready(pilot):
        await loaded(pilot, MainScreen)
        await settle(pilot)

    assert snap_compare(DashApp(settings, refresh_seconds=FAST), terminal_size=(80, 24), run_before=ready)


def test_snapshot_main_by_priority_120x40(frozen, snap_compare, redis_client, settings):
    enqueue_many(
        redis_client, settings, "noop", [{}] * 3, queue=Q, priority="high", job_ids=["h1", "h2", "h3"]
    )

    async def ready(pilot):
        main = await loaded(pilot, MainScreen)
        await pilot.press("b")
        # + the dead-letter row, which has no priorities
        await until(pilot, lambda: main.query_one("#queues").row_count == 7 * 4 + 1, "priority rows")
        await settle(pilot)

    assert snap_compare(DashApp(settings, refresh_seconds=FAST), terminal_size=(120, 40), run_before=ready)


def test_snapshot_jobs_with_failed_detail_80x24(frozen, snap_compare, redis_client, tmp_path):
    settings = with_failures(tmp_path, Q)
    failed_jobs(redis_client, settings, Q, ["failed-job-1"])

    async def ready(pilot):
        screen = await open_queue(pilot, Q)
        await to_state(pilot, screen, "failed")
        await until(pilot, lambda: "PermanentJobFailure" in detail_text(screen), "the detail")
        await settle(pilot)

    assert snap_compare(DashApp(settings, refresh_seconds=FAST), terminal_size=(80, 24), run_before=ready)


def test_snapshot_dead_letters_120x40(frozen, snap_compare, redis_client, settings):
    dead_jobs(redis_client, settings, ["dead-a"])

    async def ready(pilot):
        await loaded(pilot, MainScreen)
        await pilot.press("D")
        screen = await loaded(pilot, DeadLetterScreen)
        await until(
            pilot, lambda: "PermanentJobFailure" in str(screen.query_one("#entry").render()), "the entry"
        )
        await settle(pilot)

    assert snap_compare(DashApp(settings, refresh_seconds=FAST), terminal_size=(120, 40), run_before=ready)


def test_snapshot_help_80x24(frozen, snap_compare, settings):
    async def ready(pilot):
        await loaded(pilot, MainScreen)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "help")
        await settle(pilot)

    assert snap_compare(DashApp(settings, refresh_seconds=FAST), terminal_size=(80, 24), run_before=ready)


def test_snapshot_clear_confirmation_80x24(frozen, snap_compare, redis_client, settings):
    enqueue_many(
        redis_client, settings, "noop", [{"n": i} for i in range(3)], queue=Q, job_ids=["c0", "c1", "c2"]
    )

    async def ready(pilot):
        screen = await open_queue(pilot, Q)
        await until(
            pilot,
            lambda: (
                screen.loaded
                and screen.page["total"] == 3
                and screen.selected == "c0"
                and '"n": 0' in detail_text(screen)
            ),
            "3 waiting, the first one's detail",
        )
        await pilot.press("c")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirmation")
        await settle(pilot)

    assert snap_compare(DashApp(settings, refresh_seconds=FAST), terminal_size=(80, 24), run_before=ready)
    assert totals(redis_client, settings, Q)["waiting"] == 3
