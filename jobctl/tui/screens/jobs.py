"""One queue's jobs in one state, with a detail pane; retry, cancel, delete; search (`/`)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Header, Input, Static

from jobctl.core import ops
from jobctl.errors import JobctlError
from jobctl.tui import data, widgets
from jobctl.tui.screens.base import JOB_STATES, DataScreen, selected_key, sync_table
from jobctl.tui.widgets import ConfirmScreen

# the time each state's rows show, and its column's label
WHEN = {
    "waiting": ("enqueued_at", "enqueued (UTC)"),
    "scheduled": ("runs_at", "runs at (UTC)"),  # not enqueued_at: when it was put off, not when it runs
    "active": ("started_at", "started (UTC)"),
}
ENDED = ("ended_at", "ended (UTC)")


class JobsScreen(DataScreen):
    BINDINGS = [
        Binding("tab,s", "state(1)", "Next state"),
        Binding("shift+tab,S", "state(-1)", "Prev state", show=False),
        Binding("r", "retry", "Retry"),
        Binding("d", "delete", "Delete"),
        Binding("c", "clear", "Clear"),
        Binding("p", "pause", "Pause/resume"),
        Binding("n", "page(1)", "Next page", show=False),
        Binding("N", "page(-1)", "Prev page", show=False),
        Binding("D,l", "app.dead_letters", "DLQ", show=False),
        Binding("question_mark", "app.help", "Help"),
        # last: at 80 columns the footer ends at Help, and the states line says "/ search"
        Binding("slash", "search", "Search"),
        Binding("q,escape", "back", "Back"),
    ]

    DEFAULT_CSS = """
    JobsScreen #states { height: 1; padding: 0 1; }
    JobsScreen #search { height: 3; display: none; }
    JobsScreen.searching #search { display: block; }
    JobsScreen #jobs { height: 2fr; }
    JobsScreen #detail-box { height: 3fr; border-top: solid $accent; }
    """

    def __init__(self, queue: str, state: str = "waiting") -> None:
        super().__init__()
        self.queue = queue
        self.state = state
        self.selected: str | None = None
        self.page_offset = 0
        self.paused = False
        self.page: dict[str, Any] | None = None
        self.detail: dict[str, Any] | None = None
        self.query_text = ""  # the search box's text while search results are shown
        self.search: dict[str, Any] | None = None  # its search_jobs arguments
        self.found: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Input(placeholder=f"search: {data.SEARCH_SYNTAX}", id="search")
        yield Static("", id="states")
        yield DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="detail-box"):
            yield Static("", id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "jobctl dash"
        self._columns()
        self.query_one("#jobs", DataTable).focus()
        self._show_states()

    def _columns(self) -> None:
        """The table's columns for what it shows: a state's page, or search results (with their state)."""
        when = "time (UTC)" if self.search is not None else WHEN.get(self.state, ENDED)[1]
        middle = "state" if self.search is not None else "prio"
        labels = ("id", "type", middle, "tries", when)
        table = self.query_one("#jobs", DataTable)
        if tuple(str(c.label) for c in table.columns.values()) != labels:
            table.clear(columns=True)
            for label in labels:
                table.add_column(label, key=label)

    def _show_states(self) -> None:
        self.sub_title = f"{self.queue}" + (" (paused)" if self.paused else "")
        if self.search is not None:
            self._show_search()
            return
        text = Text()
        for s in JOB_STATES:
            text.append(f" {s} ", style="reverse bold" if s == self.state else "")
            text.append(" ")
        if self.page is not None:
            text.append(f" {self.page['total']:,} job(s)", style="dim")
            shown = len(self.page["jobs"])
            if self.page["next_offset"] is not None or self.page_offset:
                text.append(
                    f", {self.page_offset + 1 if shown else 0}-{self.page_offset + shown} (n/N)", style="dim"
                )
        if self.paused:
            text.append("  PAUSED", style="bold yellow")
        text.append("  / search", style="dim")
        self.query_one("#states", Static).update(text)

    def _show_search(self) -> None:
        text = Text()
        text.append(f" search {self.query_text} ", style="reverse bold")
        if self.found is not None:
            text.append(f"  {data.search_summary(self.found)}", style="dim")
        text.append("  Esc: back to the states", style="dim")
        self.query_one("#states", Static).update(text)

    def read(self, connection, settings) -> dict[str, Any]:
        if self.search is not None:
            query, previous = self.search, self.found
            return {
                "key": ("search", query),
                **data.read_search(connection, settings, query, self.selected, previous),
            }
        state, offset = self.state, self.page_offset
        return {
            "key": (state, offset),
            **data.read_jobs(connection, settings, self.queue, state, self.selected, offset),
        }

    def show(self, result: dict[str, Any]) -> None:
        current = ("search", self.search) if self.search is not None else (self.state, self.page_offset)
        if result["key"] != current:
            return  # read before the state, page or search changed
        self._loaded = True
        if self.search is not None:
            self.found = result["found"]
            rows = [
                (j["id"], [j["id"], j["type"], j["state"], _tries(j), widgets.fmt_time(_when(j))])
                for j in self.found["jobs"]
            ]
        else:
            self.page = result["page"]
            self.paused = result["paused"]
            when = WHEN.get(self.state, ENDED)[0]
            rows = [
                (
                    j["id"],
                    [j["id"], j["type"], j["priority"] or "-", _tries(j), widgets.fmt_time(j.get(when))],
                )
                for j in self.page["jobs"]
            ]
        table = self.query_one("#jobs", DataTable)
        sync_table(table, rows)
        key = selected_key(table)
        if key != self.selected:
            self.selected = key
            self.app.refresh_now()
        self.detail = result["detail"] if result["detail"] and result["detail"].get("id") == key else None
        self.query_one("#detail", Static).update(widgets.job_text(self.detail))
        self._show_states()

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        self.add_class("searching")
        box.value = self.query_text
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self._end_search()
            return
        try:
            query = data.parse_search(text, self.queue)
        except JobctlError as exc:
            self.notify(f"{exc.message} ({exc.hint})" if exc.hint else exc.message, severity="error")
            return
        self.query_text, self.search, self.found = text, query, None
        self.remove_class("searching")
        self._reload()
        self.query_one("#jobs", DataTable).focus()

    def _end_search(self) -> None:
        """Back to the state view the search was opened from."""
        self.remove_class("searching")
        self.query_one("#jobs", DataTable).focus()
        if self.search is not None:
            self.query_text, self.search, self.found = "", None, None
            self._reload()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key else None
        if key != self.selected:
            self.selected = key
            self.app.refresh_now()

    def action_page(self, step: int) -> None:
        if self.search is not None:
            return  # results are one page: narrow the search instead
        if step == 0:
            offset = 0
        elif step > 0:
            if not self.page or self.page["next_offset"] is None:
                return
            offset = self.page["next_offset"]
        else:
            offset = max(0, self.page_offset - data.PAGE)
        if offset != self.page_offset:
            self.page_offset = offset
            self._reload()

    def action_state(self, step: int) -> None:
        if self.search is not None:
            self.query_text, self.search, self.found = "", None, None  # tab: back to the states
        self.state = JOB_STATES[(JOB_STATES.index(self.state) + step) % len(JOB_STATES)]
        self.page_offset = 0
        self._reload()

    def _reload(self) -> None:
        self.selected = None
        self.page = None
        self.detail = None
        self._loaded = False
        self.query_one("#jobs", DataTable).clear()
        self._columns()
        self.query_one("#detail", Static).update(widgets.job_text(None))
        self._show_states()
        self.app.refresh_now()

    def action_back(self) -> None:
        if self.has_class("searching") or self.search is not None:
            self._end_search()
            return
        self.app.pop_screen()

    def action_retry(self) -> None:
        job_id = self.selected
        if not job_id:
            return
        if self._selected_state() != "failed":
            self.notify(
                "only failed jobs are retried here (dead ones: the dead-letter screen)", severity="warning"
            )
            return
        # the CLI's and HTTP's retry verb: a job dead-lettered meanwhile is replayed, not refused
        self.app.mutate(ops.retry_jobs, [job_id], done=self._retried)

    def _selected_state(self) -> str | None:
        """The state the selected job was listed in: the tab's, or its search result's."""
        if self.search is None:
            return self.state
        rows = (self.found or {}).get("jobs", [])
        return next((j["state"] for j in rows if j["id"] == self.selected), None)

    def _retried(self, result: dict[str, Any]) -> None:
        self._bulk(result, "retried")
        if result["replayed"]:
            self.notify(f"replayed {', '.join(result['replayed'])} from the dead-letter queue")

    def action_delete(self) -> None:
        job_id = self.selected
        if not job_id:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.mutate(ops.delete_jobs, [job_id], done=lambda r: self._bulk(r, "deleted"))

        self.app.push_screen(ConfirmScreen(f"Delete job {job_id} and its data for good?"), answered)

    def action_clear(self) -> None:
        if self.state == "active":
            self.notify(
                "running jobs are never cleared (cancel one with `jobctl job cancel`)", severity="warning"
            )
            return
        state, queue = self.state, self.queue
        total = self.page["total"] if self.page else 0

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.mutate(
                    ops.clear_queue,
                    queue,
                    state,
                    done=lambda r: self.notify(f"{queue}: removed {r['total']:,} {state} job(s)"),
                )

        self.app.push_screen(
            ConfirmScreen(f"Delete all {total:,} {state} job(s) of {queue} for good?"), answered
        )

    def action_pause(self) -> None:
        self.app.toggle_pause(self.queue, self.paused)

    def _bulk(self, result: dict[str, Any], verb: str) -> None:
        done = result[verb]
        problems = [f"{r['id']}: {r['reason']}" for r in result["refused"]] + [
            f"{i}: not found" for i in result["not_found"]
        ]
        if done:
            self.notify(f"{verb} {', '.join(done)}")
        if problems:
            self.notify("; ".join(problems), severity="error")


def _tries(row: dict[str, Any]) -> str:
    """Attempts made of allowed (core.attempts.progress, as `jobctl queue show` has them)."""
    tries = row.get("attempts") or {}
    return f"{tries.get('made', '-')}/{tries.get('allowed') or '-'}"


def _when(row: dict[str, Any]) -> str | None:
    """A search result's time: when a scheduled job runs, else its latest event."""
    if row.get("runs_at"):
        return row["runs_at"]
    return row.get("ended_at") or row.get("started_at") or row.get("enqueued_at") or row.get("created_at")
