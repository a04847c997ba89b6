"""The dead-letter queue: its entries, filtered, with replay and purge."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Header, Input, Static

from jobctl.core import dlq
from jobctl.tui import data, widgets
from jobctl.tui.screens.base import DataScreen, selected_key, sync_table
from jobctl.tui.widgets import ConfirmScreen


class DeadLetterScreen(DataScreen):
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("r", "replay", "Replay"),
        Binding("x", "purge", "Purge"),
        Binding("n", "next_page", "Next page"),
        Binding("N", "prev_page", "Prev page", show=False),
        Binding("question_mark", "app.help", "Help"),
        Binding("escape,q", "back", "Back"),
    ]
    DEFAULT_CSS = """
    DeadLetterScreen #filter { height: 3; }
    DeadLetterScreen #summary { height: 1; padding: 0 1; }
    DeadLetterScreen #dead { height: 1fr; }
    DeadLetterScreen #entry-box { height: 1fr; border-top: solid $accent; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self.cursor: str | None = None
        self.cursors: list[str | None] = []
        self.selected: str | None = None
        self.page: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Input(placeholder="filter: queue name or error text, Enter to apply", id="filter")
        yield Static("", id="summary")
        yield DataTable(id="dead", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="entry-box"):
            yield Static("", id="entry")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "jobctl dash"
        self.sub_title = "dead letters"
        table = self.query_one("#dead", DataTable)
        for label in ("job id", "queue", "tries", "died (UTC)", "error"):
            table.add_column(label, key=label)
        table.focus()

    def read(self, connection, settings) -> dict[str, Any]:
        key = (self.text, self.cursor)
        return {"key": key, **data.read_dlq(connection, settings, self.text, self.cursor, self.selected)}

    def show(self, result: dict[str, Any]) -> None:
        if result["key"] != (self.text, self.cursor):
            return
        self.page = result["page"]
        self._loaded = True
        table = self.query_one("#dead", DataTable)
        sync_table(
            table,
            [
                (
                    e["job_id"],
                    [
                        e["job_id"],
                        e["queue"],
                        str(e["attempt_count"]),
                        widgets.fmt_time(e["died_at"]),
                        f"{e['error_type']}: {e['error_message']}"[:60],
                    ],
                )
                for e in self.page["entries"]
            ],
        )
        key = selected_key(table)
        if key != self.selected:
            self.selected = key
            self.app.refresh_now()
        entry = result["entry"] if result["entry"] and result["entry"]["job_id"] == key else None
        self.query_one("#entry", Static).update(widgets.dlq_text(entry))
        shown = len(self.page["entries"])
        summary = f"{self.page['total']:,} dead job(s)"
        if self.text:
            summary += f"; {shown} matching '{self.text}' on this page"
        if self.cursors:
            summary += f"; page {len(self.cursors) + 1}"
        if self.page["next_cursor"]:
            summary += "; n: next page"
        self.query_one("#summary", Static).update(Text(summary, style="dim"))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key else None
        if key != self.selected:
            self.selected = key
            self.app.refresh_now()

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.apply_filter(event.value)
        self.query_one("#dead", DataTable).focus()

    def apply_filter(self, text: str) -> None:
        self.text = text.strip()
        self.cursor, self.cursors, self.selected = None, [], None
        self._loaded = False
        self.query_one("#dead", DataTable).clear()
        self.app.refresh_now()

    def action_next_page(self) -> None:
        if self.page and self.page["next_cursor"]:
            self.cursors.append(self.cursor)
            self.cursor = self.page["next_cursor"]
            self.selected = None
            self.app.refresh_now()

    def action_prev_page(self) -> None:
        if self.cursors:
            self.cursor = self.cursors.pop()
            self.selected = None
            self.app.refresh_now()

    def action_back(self) -> None:
        if self.focused is self.query_one("#filter", Input):
            self.query_one("#dead", DataTable).focus()
            return
        self.app.pop_screen()

    def _ask(self, question: str, fn, verb: str) -> None:
        job_id = self.selected
        if not job_id:
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                return

            def done(result: dict[str, Any]) -> None:
                if result[verb]:
                    self.notify(f"{verb} {', '.join(result[verb])}")
                if result["not_found"]:
                    self.notify(f"no dead-letter entry {', '.join(result['not_found'])}", severity="error")
                for refused in result.get("refused", []):
                    self.notify(f"{refused['id']} not {verb}: {refused['reason']}", severity="error")

            self.app.mutate(fn, [job_id], done=done)

        self.app.push_screen(ConfirmScreen(question.format(job_id=job_id)), answered)

    def action_replay(self) -> None:
        self._ask("Replay {job_id} on its original queue (attempts reset)?", _replay, "replayed")

    def action_purge(self) -> None:
        self._ask("Delete dead job {job_id} and its data for good?", _purge, "purged")


def _replay(connection, settings, ids):
    return dlq.replay(connection, settings, ids)


def _purge(connection, settings, ids):
    return dlq.purge(connection, settings, ids)
