"""The first screen: queues (counts per state or per priority, sparklines) and workers."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from jobctl.core.catalog import DEAD_LETTER
from jobctl.core.stats import STATES
from jobctl.tui import data, widgets
from jobctl.tui.screens.base import SPARK, DataScreen, selected_key, sync_table
from jobctl.tui.screens.jobs import JobsScreen


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
        for label, key in (
            ("queue", "queue"),
            ("wait", "waiting"),
            ("run", "active"),
            ("sch", "scheduled"),
            ("fail", "failed"),
            ("done", "completed"),
            ("wk", "workers"),
            ("", "paused"),
            ("done/min", "spark_done"),
            ("fail/min", "spark_fail"),
        ):
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
                rows.append(
                    (
                        key,
                        [
                            label,
                            *(
                                f"{counts[s]:,}"
                                for s in ("waiting", "active", "scheduled", "failed", "completed")
                            ),
                            ("-" if name == DEAD_LETTER else str(workers)) if is_total else "",
                            Text("||", style="bold black on yellow") if paused and is_total else "",
                            Text(widgets.sparkline(spark.get("completed", []), SPARK), style="green")
                            if is_total
                            else "",
                            Text(widgets.sparkline(spark.get("failed", []), SPARK), style="red")
                            if is_total
                            else "",
                        ],
                    )
                )
        sync_table(self.query_one("#queues", DataTable), rows)
        self._show_prio()
        workers = result["workers"]
        live = sum(1 for w in workers if w["alive"])
        gone = f" (+{len(workers) - live} dead)" if live < len(workers) else ""
        self.query_one("#workers-title", Static).update(
            Text(f"workers: {live}{gone}   dead letters: {result['stats']['dead_letter']:,}", style="bold")
        )
        sync_table(
            self.query_one("#workers", DataTable),
            [
                (
                    w["name"],
                    [
                        w["name"],
                        (w["state"] or "-") if w["alive"] else Text("dead", style="red"),
                        ",".join(sorted({n.rsplit(":", 1)[0] for n in w["queues"]})),
                        w["current_job"] or "-",
                        str(w["jobs_done"] or 0),
                        str(w["jobs_failed"] or 0),
                    ],
                )
                for w in workers
            ],
        )

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
        parts = [
            f"{p}: " + " ".join(f"{s[0]}{counts[s]}" for s in STATES) for p, counts in q["priorities"].items()
        ]
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
