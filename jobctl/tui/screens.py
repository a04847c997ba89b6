"""The dashboard's screens: queues + workers, one queue's jobs with a detail pane, dead letters.

A screen's `read` runs in the app's worker thread (Redis only through jobctl.core); its `show`
runs on the UI thread with the result. Actions call the same core functions as the CLI, also
off the UI thread (see DashApp.mutate).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from jobctl.core import dlq, ops
from jobctl.core.catalog import DEAD_LETTER
from jobctl.core.stats import STATES
from jobctl.tui import data, widgets
from jobctl.tui.widgets import ConfirmScreen

SPARK = 8
JOB_STATES = ("waiting", "scheduled", "active", "failed", "completed")


def sync_table(table: DataTable, rows: list[tuple[str, list[Any]]]) -> None:
    """Show `rows` (key, cells), keeping the cursor on the same key; cells updated in place when
    the keys did not change, so a refresh neither flickers nor moves the selection."""
    keys = [k for k, _ in rows]
    current = [rk.value for rk in table.rows]
    if keys == current:
        columns = list(table.columns)
        for key, cells in rows:
            for column, cell in zip(columns, cells):
                if table.get_cell(key, column) != cell:
                    table.update_cell(key, column, cell)
        return
    selected = None
    if table.row_count and 0 <= table.cursor_row < table.row_count:
        selected = current[table.cursor_row]
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected in keys:
        table.move_cursor(row=keys.index(selected), animate=False)


def selected_key(table: DataTable) -> str | None:
    if not table.row_count or not (0 <= table.cursor_row < table.row_count):
        return None
    return list(table.rows)[table.cursor_row].value


class DataScreen(Screen):
    """A screen the app refreshes: `read` (worker thread) then `show` (UI thread)."""

    def read(self, connection, settings) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def show(self, result: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def loaded(self) -> bool:
        return getattr(self, "_loaded", False)


class MainScreen(DataScreen):
    BINDINGS = [
        Binding("enter", "open", "Jobs", show=True, priority=False),
        Binding("p", "pause", "Pause/resume"),
        Binding("b", "breakdown", "Priorities"),
        Binding("D,l", "app.dead_letters", "Dead letters"),
        Binding("question_mark", "app.help", "Help"),
        Binding("q,escape", "app.quit", "Quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.by_priority = False
        self.last: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield DataTable(id="queues", cursor_type="row", zebra_stripes=True)
        yield Static("", id="prio")
        yield Static("", id="workers-title")
        yield DataTable(id="workers", cursor_type="none", show_cursor=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "jobctl dash"
        self.sub_title = "queues"
        queues = self.query_one("#queues", DataTable)
        for label, key in (("queue", "queue"), ("wait", "waiting"), ("run", "active"), ("sch", "scheduled"),
                           ("fail", "failed"), ("done", "completed"), ("wk", "workers"), ("", "paused"),
                           ("done/min", "spark_done"), ("fail/min", "spark_fail")):
            queues.add_column(label, key=key)
        workers = self.query_one("#workers", DataTable)
        for label in ("worker", "state", "queues", "job", "ok", "err"):
            workers.add_column(label, key=label)
        queues.focus()

    def read(self, connection, settings) -> dict[str, Any]:
        return data.read_main(connection, settings)

    def show(self, result: dict[str, Any]) -> None:
        self.last = result
        self._loaded = True
        rows = []
        for q in result["stats"]["queues"]:
            name = q["queue"]
            paused = name in result["paused"]
            spark = result["series"].get(name) or {}
            prios = [(name, q["totals"], q["workers"])]
            if self.by_priority:  # the dead-letter queue has none
                prios += [(f"{name}:{p}", counts, None) for p, counts in q["priorities"].items()]
            for key, counts, workers in prios:
                is_total = workers is not None
                label = name if is_total else f"  {key.split(':')[1]}"
                rows.append((key, [label, *(f"{counts[s]:,}" for s in ("waiting", "active", "scheduled",
                                                                           "failed", "completed")),
                                   ("-" if name == DEAD_LETTER else str(workers)) if is_total else "",
                                   Text("||", style="bold black on yellow") if paused and is_total else "",
                                   Text(widgets.sparkline(spark.get("completed", []), SPARK), style="green")
                                   if is_total else "",
                                   Text(widgets.sparkline(spark.get("failed", []), SPARK), style="red")
                                   if is_total else ""]))
        sync_table(self.query_one("#queues", DataTable), rows)
        self._show_prio()
        workers = result["workers"]
        live = sum(1 for w in workers if w["alive"])
        gone = f" (+{len(workers) - live} dead)" if live < len(workers) else ""
        self.query_one("#workers-title", Static).update(
            Text(f"workers: {live}{gone}   dead letters: {result['stats']['dead_letter']:,}", style="bold"))
        sync_table(self.query_one("#workers", DataTable), [
            (w["name"], [w["name"], (w["state"] or "-") if w["alive"] else Text("dead", style="red"),
                         ",".join(sorted({n.rsplit(":", 1)[0] for n in w["queues"]})),
                         w["current_job"] or "-", str(w["jobs_done"] or 0), str(w["jobs_failed"] or 0)])
            for w in workers])

    def selected_queue(self) -> str | None:
        key = selected_key(self.query_one("#queues", DataTable))
        return key.split(":")[0] if key else None

    def _show_prio(self) -> None:
        name = self.selected_queue()
        if not self.last or not name:
            return
        q = next((q for q in self.last["stats"]["queues"] if q["queue"] == name), None)
        if q is None:
            return
        parts = [f"{p}: " + " ".join(f"{s[0]}{counts[s]}" for s in STATES)
                 for p, counts in q["priorities"].items()]
        text = Text(f"{name}  ", style="bold")
        if name in self.last["paused"]:
            text.append("PAUSED  ", style="bold yellow")
        text.append("  ".join(parts), style="dim")
        self.query_one("#prio", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "queues":
            self._show_prio()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "queues":
            self.action_open()

    def action_open(self) -> None:
        name = self.selected_queue()
        if name == DEAD_LETTER:  # its entries, with replay and purge, are the dead-letter screen's
            self.app.action_dead_letters()
        elif name:
            self.app.push_screen(JobsScreen(name))

    def action_breakdown(self) -> None:
        self.by_priority = not self.by_priority
        if self.last:
            self.show(self.last)

    def action_pause(self) -> None:
        name = self.selected_queue()
        if name and self.last is not None:
            self.app.toggle_pause(name, name in self.last["paused"])


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
        Binding("q,escape", "back", "Back"),
    ]

    DEFAULT_CSS = """
    JobsScreen #states { height: 1; padding: 0 1; }
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

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("", id="states")
        yield DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="detail-box"):
            yield Static("", id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "jobctl dash"
        table = self.query_one("#jobs", DataTable)
        for label in ("id", "type", "prio", "time (UTC)"):
            table.add_column(label, key=label)
        table.focus()
        self._show_states()

    def _show_states(self) -> None:
        self.sub_title = f"{self.queue}" + (" (paused)" if self.paused else "")
        text = Text()
        for s in JOB_STATES:
            text.append(f" {s} ", style="reverse bold" if s == self.state else "")
            text.append(" ")
        if self.page is not None:
            text.append(f" {self.page['total']:,} job(s)", style="dim")
            shown = len(self.page["jobs"])
            if self.page["next_offset"] is not None or self.page_offset:
                text.append(f", {self.page_offset + 1 if shown else 0}-{self.page_offset + shown} (n/N)", style="dim")
        if self.paused:
            text.append("  PAUSED", style="bold yellow")
        self.query_one("#states", Static).update(text)

    def read(self, connection, settings) -> dict[str, Any]:
        state, offset = self.state, self.page_offset
        return {"key": (state, offset),
                **data.read_jobs(connection, settings, self.queue, state, self.selected, offset)}

    def show(self, result: dict[str, Any]) -> None:
        if result["key"] != (self.state, self.page_offset):
            return  # read before the state or page changed
        self.page = result["page"]
        self.paused = result["paused"]
        self._loaded = True
        when = {"waiting": "enqueued_at", "scheduled": "enqueued_at", "active": "started_at"}.get(self.state, "ended_at")
        table = self.query_one("#jobs", DataTable)
        sync_table(table, [(j["id"], [j["id"], j["type"], j["priority"] or "-", widgets.fmt_time(j.get(when))])
                           for j in self.page["jobs"]])
        key = selected_key(table)
        if key != self.selected:
            self.selected = key
            self.app.refresh_now()
        self.detail = result["detail"] if result["detail"] and result["detail"].get("id") == key else None
        self.query_one("#detail", Static).update(widgets.job_text(self.detail))
        self._show_states()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key else None
        if key != self.selected:
            self.selected = key
            self.app.refresh_now()

    def action_page(self, step: int) -> None:
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
        self.state = JOB_STATES[(JOB_STATES.index(self.state) + step) % len(JOB_STATES)]
        self.page_offset = 0
        self._reload()

    def _reload(self) -> None:
        self.selected = None
        self.page = None
        self.detail = None
        self._loaded = False
        self.query_one("#jobs", DataTable).clear()
        self.query_one("#detail", Static).update(widgets.job_text(None))
        self._show_states()
        self.app.refresh_now()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_retry(self) -> None:
        job_id = self.selected
        if not job_id:
            return
        if self.state != "failed":
            self.notify("only failed jobs are retried here (dead ones: the dead-letter screen)", severity="warning")
            return
        # the CLI's and HTTP's retry verb: a job dead-lettered meanwhile is replayed, not refused
        self.app.mutate(ops.retry_jobs, [job_id], done=self._retried)

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
            self.notify("running jobs are never cleared (cancel one with `jobctl job cancel`)", severity="warning")
            return
        state, queue = self.state, self.queue
        total = self.page["total"] if self.page else 0

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.mutate(ops.clear_queue, queue, state,
                                done=lambda r: self.notify(f"{queue}: removed {r['total']:,} {state} job(s)"))

        self.app.push_screen(ConfirmScreen(f"Delete all {total:,} {state} job(s) of {queue} for good?"), answered)

    def action_pause(self) -> None:
        self.app.toggle_pause(self.queue, self.paused)

    def _bulk(self, result: dict[str, Any], verb: str) -> None:
        done = result[verb]
        problems = [f"{r['id']}: {r['reason']}" for r in result["refused"]] + \
                   [f"{i}: not found" for i in result["not_found"]]
        if done:
            self.notify(f"{verb} {', '.join(done)}")
        if problems:
            self.notify("; ".join(problems), severity="error")


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
        sync_table(table, [(e["job_id"], [e["job_id"], e["queue"], str(e["attempt_count"]),
                                          widgets.fmt_time(e["died_at"]),
                                          f"{e['error_type']}: {e['error_message']}"[:60]])
                           for e in self.page["entries"]])
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
