"""Dead-letter triage in the dashboard: the error groups, opening one, bulk replay and purge of what a
filter matches (previewed, then confirmed or cancelled), `/` over every entry, the error column."""

from __future__ import annotations

from textual.widgets import DataTable

from jobctl.core import audit, dlq
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.worker import JobctlJob, JobctlWorker
from jobctl.tui import data
from jobctl.tui.app import DashApp
from jobctl.tui.screens import DeadLetterScreen, MainScreen
from jobctl.tui.screens.dead_letters import PreviewConfirmScreen, error_cell
from tests.tui.dash_helpers import FAST, Q, dead_jobs, drive, loaded, settle, until

SMTP_550 = "SMTP server 127.0.0.1:2525 said 550 5.1.1 <{who}@example.com>: mailbox unavailable"
SMTP_421 = "SMTP server 127.0.0.1:2525 said 421 4.7.0 too many connections from 10.0.0.{n}"
EMAIL = "email-sending"


def dead(conn, settings, messages: list[str], queue: str, prefix: str) -> list[str]:
    """Dead entries with these error messages, ids prefix-0, prefix-1, ..."""
    ids = [f"{prefix}-{i}" for i in range(len(messages))]
    enqueue_many(conn, settings, "fail", [{"message": m} for m in messages], queue=queue, job_ids=ids)
    JobctlWorker(
        [rq_queue(conn, q) for q in queue_catalog(settings)[queue].physical_names],
        connection=conn,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)
    return ids


def triage(conn, settings) -> tuple[list[str], list[str]]:
    """Five dead of SMTP 550 (two queues), two of SMTP 421."""
    ids_550 = dead(conn, settings, [SMTP_550.format(who=f"u{i}") for i in range(3)], EMAIL, "m550")
    ids_550 += dead(conn, settings, [SMTP_550.format(who=f"p{i}") for i in range(2)], Q, "p550")
    ids_421 = dead(conn, settings, [SMTP_421.format(n=i) for i in range(2)], EMAIL, "m421")
    return ids_550, ids_421


async def open_groups(pilot) -> DeadLetterScreen:
    await loaded(pilot, MainScreen)
    await pilot.press("D")
    screen = await loaded(pilot, DeadLetterScreen)
    await pilot.press("g")
    await until(pilot, lambda: screen.grouped and screen.loaded and screen.groups, "the error groups")
    return screen


def gid_of(screen: DeadLetterScreen, code: str) -> str:
    [gid] = [g["fingerprint_id"] for g in screen.groups["groups"] if f" {code} " in g["fingerprint"]]
    return gid


def test_grouped_view_counts_and_opening_a_group(redis_client, settings):
    _, ids_421 = triage(redis_client, settings)
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        screen = await open_groups(pilot)
        table = screen.query_one("#groups", DataTable)
        assert [str(table.get_row_at(r)[0]) for r in range(table.row_count)] == ["5", "2"]
        assert "550 5.1.1" in str(table.get_row_at(0)[3]) and "421 4.7.0" in str(table.get_row_at(1)[3])
        assert str(table.get_row_at(0)[2]) == f"{EMAIL} 3\n{Q} 2"
        detail = str(screen.query_one("#entry").render())
        assert "first seen" in detail and "said 550 5.1.1" in detail and "job types fail 5" in detail
        assert "7 dead job(s) in 2 error group(s)" in str(screen.query_one("#summary").render())

        await pilot.press("down", "enter")  # the 421 group
        await until(
            pilot,
            lambda: (
                not screen.grouped
                and screen.loaded
                and sorted(e["job_id"] for e in screen.page["entries"]) == sorted(ids_421)
            ),
            "the group's entries",
        )
        assert screen.fingerprint == gid_of(screen, "421")
        assert f"group {screen.fingerprint}" in str(screen.query_one("#summary").render())
        await pilot.press("escape")  # back to the groups, not out of the screen
        await until(pilot, lambda: screen.grouped and screen.loaded, "the groups again")
        assert pilot.app.screen is screen and screen.fingerprint is None

    drive(app, script)


def test_bulk_replay_of_a_group_previews_then_replays(redis_client, settings):
    ids_550, ids_421 = triage(redis_client, settings)
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        screen = await open_groups(pilot)
        assert screen.selected_group == gid_of(screen, "550")
        await pilot.press("r")
        confirm = await until(
            pilot, lambda: isinstance(app.screen, PreviewConfirmScreen) and app.screen, "the preview"
        )
        question = confirm.question
        assert question.startswith("Replay 5 dead job(s) on their original queue")
        assert f"  {EMAIL}       3\n  {Q}       2" in question, question
        assert f"error group {gid_of(screen, '550')}" in question and "550 5.1.1" in question
        assert all(dlq.read_entry(redis_client, i)["state"] == "dead" for i in ids_550)  # a preview only
        await pilot.press("y")
        await until(
            pilot,
            lambda: all(dlq.read_entry(redis_client, i)["state"] == "replayed" for i in ids_550),
            "the group replayed",
        )
        await until(pilot, lambda: [g["count"] for g in screen.groups["groups"]] == [2], "one group left")

    drive(app, script)
    assert all(dlq.read_entry(redis_client, i)["state"] == "dead" for i in ids_421)
    [entry] = audit.list_entries(redis_client, action="dlq.replay")
    assert entry["face"] == "tui" and entry["count"] == 5


def test_purge_of_the_filtered_entries_with_cancel_keeps_them(redis_client, settings):
    ids_550, ids_421 = triage(redis_client, settings)
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        await loaded(pilot, MainScreen)
        await pilot.press("D")
        screen = await loaded(pilot, DeadLetterScreen)
        await pilot.press("slash", *"too many connections", "enter")
        await until(
            pilot,
            lambda: screen.loaded and sorted(e["job_id"] for e in screen.page["entries"]) == sorted(ids_421),
            "the filtered entries",
        )
        await pilot.press("X")
        confirm = await until(
            pilot, lambda: isinstance(app.screen, PreviewConfirmScreen) and app.screen, "the preview"
        )
        assert confirm.question.startswith("Delete 2 dead job(s) and their data for good?")
        assert f"  {EMAIL}       2" in confirm.question
        assert "error text contains 'too many connections'" in confirm.question
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen, "the preview closed")
        await pilot.pause(0.3)  # a few refreshes: nothing acts behind the "No"
        assert all(dlq.read_entry(redis_client, i)["state"] == "dead" for i in ids_421)

        await pilot.press("X")
        await until(pilot, lambda: isinstance(app.screen, PreviewConfirmScreen), "the preview again")
        await pilot.press("y")
        await until(pilot, lambda: all(dlq.read_entry(redis_client, i) is None for i in ids_421), "purged")

    drive(app, script)
    assert all(dlq.read_entry(redis_client, i)["state"] == "dead" for i in ids_550)
    [entry] = audit.list_entries(redis_client, action="dlq.purge")  # the cancel recorded nothing
    assert entry["count"] == 2


def test_slash_finds_an_entry_beyond_the_first_page(redis_client, settings):
    [needle] = dead(redis_client, settings, ["needle: SMTP 550 refused"], Q, "needle")
    dead_jobs(redis_client, settings, [f"hay-{i}" for i in range(data.PAGE + 10)])  # newer: pages 1-2
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        await loaded(pilot, MainScreen)
        await pilot.press("D")
        screen = await loaded(pilot, DeadLetterScreen)
        await until(pilot, lambda: screen.page and len(screen.page["entries"]) == data.PAGE, "a full page")
        assert needle not in [e["job_id"] for e in screen.page["entries"]]
        await pilot.press("slash", *"needle", "enter")
        await until(
            pilot,
            lambda: screen.loaded and [e["job_id"] for e in screen.page["entries"]] == [needle],
            "the needle found on the server",
        )
        summary = str(screen.query_one("#summary").render())
        assert "matching 'needle': 1 on this page" in summary, summary

    drive(app, script)


def test_a_stopped_search_says_so(monkeypatch, redis_client, settings):
    dead(redis_client, settings, ["needle"], Q, "needle")
    dead_jobs(redis_client, settings, [f"hay-{i}" for i in range(data.PAGE + 10)])
    monkeypatch.setattr(data, "DLQ_SCAN", data.PAGE)
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        await loaded(pilot, MainScreen)
        await pilot.press("D")
        screen = await loaded(pilot, DeadLetterScreen)
        await pilot.press("slash", *"needle", "enter")
        await until(pilot, lambda: screen.loaded and screen.page.get("scan_stopped"), "a stopped search")
        assert f"searched {data.PAGE} entries (the limit per read)" in str(
            screen.query_one("#summary").render()
        )
        await pilot.press("n")
        await until(
            pilot,
            lambda: screen.loaded and [e["job_id"] for e in screen.page["entries"]] == ["needle-0"],
            "found further on",
        )

    drive(app, script)


def test_the_error_column_shows_the_smtp_code_at_80_columns(redis_client, settings):
    dead(redis_client, settings, [SMTP_550.format(who="ann")], EMAIL, "m550")
    assert (
        error_cell("PermanentJobFailure", SMTP_550.format(who="ann"), 32)
        == "SMTP server <ip> said 550 5.1.1…"
    )
    assert error_cell("PermanentJobFailure", "boom 0", 32) == "boom 0"  # fits: shown as it is
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        await loaded(pilot, MainScreen)
        await pilot.press("D")
        screen = await loaded(pilot, DeadLetterScreen)
        await settle(pilot)
        table = screen.query_one("#dead", DataTable)
        [line] = [
            "".join(seg.text for seg in strip)
            for strip in (table.render_line(y) for y in range(table.size.height))
            if "m550" in "".join(seg.text for seg in strip)
        ]
        assert "said 550 5.1.1" in line and len(line) <= 80, line

    drive(app, script)


def test_snapshot_error_groups_80x24(frozen, snap_compare, redis_client, settings):
    triage(redis_client, settings)

    async def ready(pilot):
        await open_groups(pilot)
        await settle(pilot)

    assert snap_compare(DashApp(settings, refresh_seconds=FAST), terminal_size=(80, 24), run_before=ready)


def test_snapshot_bulk_preview_80x24(frozen, snap_compare, redis_client, settings):
    triage(redis_client, settings)

    async def ready(pilot):
        screen = await open_groups(pilot)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(pilot.app.screen, PreviewConfirmScreen), "the preview")
        await settle(pilot)
        assert screen.grouped

    assert snap_compare(DashApp(settings, refresh_seconds=FAST), terminal_size=(80, 24), run_before=ready)
