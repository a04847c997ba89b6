"""The jobs screen's search (`/`), scheduled jobs' run time, a detail that says when its job moved on,
and retry counts in the detail pane: Textual's Pilot against the real Redis of the test session."""

from __future__ import annotations

import pytest
from rq.job import Job
from textual.widgets import DataTable, Input

from jobctl.core import search
from jobctl.core.browse import queue_jobs
from jobctl.core.bulk import enqueue, enqueue_many
from jobctl.core.stats import queue_key
from jobctl.errors import UsageError
from jobctl.tui import data, widgets
from jobctl.tui.app import DashApp
from tests.core.test_ops import immediate_retries, run_one_attempt
from tests.tui.dash_helpers import (
    FAST,
    Q,
    detail_text,
    drive,
    failed_jobs,
    open_queue,
    to_state,
    until,
    with_failures,
)

WELCOME = {"name": "Ann", "login_url": "https://shop.example/login"}


async def search_for(pilot, screen, text: str) -> None:
    await pilot.press("slash")
    box = screen.query_one("#search", Input)
    await until(pilot, lambda: box.has_focus, "the search box")
    box.value = text
    await pilot.press("enter")
    await until(pilot, lambda: screen.loaded and screen.found is not None, f"the results of {text!r}")


def rows(screen) -> list[list]:
    table = screen.query_one("#jobs", DataTable)
    return [table.get_row(key) for key in table.rows]


def columns(screen) -> list[str]:
    return [str(c.label) for c in screen.query_one("#jobs", DataTable).columns.values()]


def states_line(screen) -> str:
    return str(screen.query_one("#states").render())


def test_search_by_id_finds_a_job_in_another_state_and_escape_returns(redis_client, tmp_path):
    settings = with_failures(tmp_path, Q)
    [failed] = failed_jobs(redis_client, settings, Q, ["failed-job-1"])
    enqueue_many(redis_client, settings, "noop", [{}] * 2, queue=Q)
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        screen = await open_queue(pilot, Q)
        await until(pilot, lambda: screen.loaded and screen.page["total"] == 2, "2 waiting jobs")
        await search_for(pilot, screen, failed)
        assert columns(screen) == ["id", "type", "state", "tries", "time (UTC)"]
        await until(
            pilot, lambda: rows(screen) and rows(screen)[0][:3] == [failed, "fail", "failed"], "the row"
        )
        await until(pilot, lambda: "status failed" in detail_text(screen), "its detail")
        assert "1 match(es)" in states_line(screen) and failed in states_line(screen)
        await pilot.press("escape")  # back to the waiting jobs the search was opened from
        await until(
            pilot, lambda: screen.search is None and screen.loaded and len(rows(screen)) == 2, "waiting"
        )
        assert columns(screen)[2] == "prio" and screen.state == "waiting"
        assert isinstance(app.screen, type(screen))  # escape ended the search, not the screen

    drive(app, script)


def test_search_by_recipient_and_a_bounded_scan_says_so(monkeypatch, redis_client, settings):
    monkeypatch.setattr(search, "BATCH", 5)
    monkeypatch.setattr(data, "SEARCH_SCAN", 10)
    enqueue_many(redis_client, settings, "noop", [{}] * 20, queue="email-sending")
    ann = enqueue(
        redis_client, settings, "email", {"to": "ann@example.com", "template": "welcome", "data": WELCOME}
    )
    app = DashApp(settings, refresh_seconds=FAST)
    said: list[str] = []
    monkeypatch.setattr(app, "notify", lambda message, **kw: said.append(str(message)))

    async def script(pilot):
        screen = await open_queue(pilot, "email-sending")
        await search_for(pilot, screen, "to:ANN@example.com")
        await until(pilot, lambda: [r[0] for r in rows(screen)] == [ann], "the email to ann")
        assert rows(screen)[0][1:4] == ["email", "waiting", "0/5"]
        assert "1 match(es) in the newest 10 of 21 jobs; narrow with state: or queue:" in states_line(screen)
        await pilot.press("slash")
        screen.query_one("#search", Input).value = "colour:red"
        await pilot.press("enter")
        await until(pilot, lambda: said, "the error")
        assert said == ["cannot search by 'colour:red' (search: " + data.SEARCH_SYNTAX + ")"]
        assert screen.search is not None and [r[0] for r in rows(screen)] == [ann]  # the last search stays

    drive(app, script)


def test_scheduled_tab_shows_when_jobs_run(redis_client, settings):
    job_id = enqueue(redis_client, settings, "noop", {}, queue=Q, delay=3600)
    [row] = queue_jobs(redis_client, settings, Q, "scheduled")["jobs"]
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        screen = await open_queue(pilot, Q)
        await to_state(pilot, screen, "scheduled")
        assert columns(screen) == ["id", "type", "prio", "tries", "runs at (UTC)"]
        await until(pilot, lambda: rows(screen) and rows(screen)[0][0] == job_id, "the scheduled job")
        assert rows(screen)[0][4] == widgets.fmt_time(row["runs_at"]) != "-"
        await until(pilot, lambda: "runs at " in detail_text(screen), "its run time in the detail")
        assert f"runs at {widgets.fmt_time(row['runs_at'])}" in detail_text(screen)

    drive(app, script)


def test_a_waiting_row_whose_job_finished_meanwhile_says_so(monkeypatch, redis_client, tmp_path):
    """Issue 18: a row under waiting opened a detail saying `status finished`. The detail is read after
    the page; a job that finished in between is now said to have, instead of contradicting the list."""
    settings = immediate_retries(tmp_path, Q, 2)
    [job_id] = enqueue_many(redis_client, settings, "noop", [{}], queue=Q)
    page_of = data.queue_jobs

    def page_then_run(*args, **kwargs):
        page = page_of(*args, **kwargs)
        run_one_attempt(redis_client, settings, Q)  # the job finishes between the two reads
        return page

    monkeypatch.setattr(data, "queue_jobs", page_then_run)
    result = data.read_jobs(redis_client, settings, Q, "waiting", job_id)
    assert [j["id"] for j in result["page"]["jobs"]] == [job_id]
    assert result["detail"]["status"] == "finished"
    assert result["detail"]["note"] == "finished since listed under waiting"
    assert "finished since listed under waiting" in str(widgets.job_text(result["detail"]))

    # its id pushed onto the list again (as enqueueing a used id does): the list holds a stale entry
    monkeypatch.setattr(data, "queue_jobs", page_of)
    redis_client.rpush(queue_key(f"{Q}:normal"), job_id)
    stale = data.read_jobs(redis_client, settings, Q, "waiting", job_id)["detail"]
    assert stale["note"] == "its id is still on the waiting list, but the job is finished: a stale entry"
    [still] = enqueue_many(redis_client, settings, "noop", [{}], queue=Q)
    assert "note" not in data.read_jobs(redis_client, settings, Q, "waiting", still)["detail"]


def test_detail_counts_attempts_of_a_retried_and_a_dead_job(redis_client, tmp_path):
    settings = immediate_retries(tmp_path, Q, 4)
    [job_id] = enqueue_many(
        redis_client, settings, "flaky", [{"counter": str(tmp_path / "n"), "fail_times": 9}], queue=Q
    )
    for _ in range(2):
        run_one_attempt(redis_client, settings, Q)  # retried twice: waiting for its third attempt
    app = DashApp(settings, refresh_seconds=FAST)

    async def script(pilot):
        screen = await open_queue(pilot, Q)
        await until(pilot, lambda: screen.loaded and rows(screen), "the waiting job")
        assert rows(screen)[0][:2] == [job_id, "flaky"] and rows(screen)[0][3] == "2/4"
        await until(pilot, lambda: "attempts 2 of 4  retries left 2" in detail_text(screen), "2 of 4")
        while run_one_attempt(redis_client, settings, Q):
            pass  # its last two attempts fail too: dead-lettered
        await search_for(pilot, screen, job_id)
        await until(pilot, lambda: rows(screen) and rows(screen)[0][2:4] == ["dead", "4/4"], "the dead job")
        await until(pilot, lambda: "attempts 4 of 4  retries left 0" in detail_text(screen), "4 of 4")

    drive(app, script)


def test_search_results_are_read_again_not_searched_again_on_refresh(monkeypatch, redis_client, settings):
    [job_id] = enqueue_many(redis_client, settings, "noop", [{}], queue=Q)
    query = data.parse_search("type:noop", Q)
    assert query == {"job_type": "noop", "queue": Q}
    first = data.read_search(redis_client, settings, query, job_id)
    assert [(j["id"], j["state"]) for j in first["found"]["jobs"]] == [(job_id, "waiting")]
    monkeypatch.setattr(data, "search_jobs", lambda *a, **kw: (_ for _ in ()).throw(AssertionError("a scan")))
    redis_client.delete(queue_key(f"{Q}:normal"))
    redis_client.hset(Job.key_for(job_id), "status", "finished")  # it ran meanwhile
    again = data.read_search(redis_client, settings, query, job_id, first["found"])
    assert [(j["id"], j["state"]) for j in again["found"]["jobs"]] == [(job_id, "completed")]
    assert again["found"]["scanned"] == first["found"]["scanned"]
    assert again["detail"]["status"] == "finished" and "note" not in again["detail"]  # listed as it is now


def test_the_search_box_syntax(settings):
    assert data.parse_search("abc-123", Q) == {"job_id": "abc-123", "queue": None}  # an id: any queue
    assert data.parse_search("ann@example.com state:dead", Q) == {
        "recipient": "ann@example.com",
        "state": "dead",
        "queue": Q,
    }
    assert data.parse_search("to:@example.com queue:all", Q) == {"recipient": "@example.com", "queue": None}
    assert data.parse_search("type:email queue:file-processing", Q)["queue"] == "file-processing"
    for bad, words in [
        ("state:failed", "nothing to search for"),
        ("type:", "cannot search by"),
        ("who:me", "cannot search by"),
        ("bad/id", "not a job id"),
        ("type:email state:gone", "unknown state"),
    ]:
        with pytest.raises(UsageError, match=words):
            data.parse_search(bad, Q)
