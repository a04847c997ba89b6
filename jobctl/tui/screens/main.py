"""The first screen: per queue its counts, throughput, error %, wait p95, oldest waiting age and
sparklines; the selected queue in detail when the terminal is tall enough; the workers.

Columns are as wide as their content (numbers are never cut); when a table would be wider than
the terminal, its least important columns are left out, the last-ranked first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from jobctl.core.catalog import DEAD_LETTER
from jobctl.core.metrics import quantile_text
from jobctl.tui import data, widgets
from jobctl.tui.screens.base import SPARK, DataScreen, cell_width, selected_key, shown_widths, sync_table
from jobctl.tui.screens.jobs import JobsScreen

COUNTS = ("waiting", "active", "scheduled", "failed", "completed")
DETAIL_MIN_HEIGHT = 30  # below this the selected queue gets one line, the workers the rest
CHART_HEIGHT = 3


@dataclass(frozen=True)
class Col:
    label: str
    key: str
    rank: int  # 0 is always shown; when the table is too wide the highest rank goes first


QUEUE_COLUMNS = (
    Col("queue", "queue", 0),
    Col("wait", "waiting", 0),
    Col("oldest", "oldest", 2),
    Col("run", "active", 1),
    Col("sch", "scheduled", 5),
    Col("fail", "failed", 1),
    Col("done", "completed", 4),
    Col("wk", "workers", 3),
    Col("", "paused", 0),
    Col("done/min", "throughput", 2),
    Col("err%", "errors", 2),
    Col("p95 wait", "wait_p95", 3),
    Col("done, last 8m", "spark_done", 6),
    Col("failed, last 8m", "spark_fail", 7),
)
WORKER_COLUMNS = (
    Col("worker", "worker", 0),
    Col("state", "state", 0),
    Col("queues", "queues", 2),
    Col("job", "job", 1),
    Col("running", "running", 5),
    Col("ok", "ok", 0),
    Col("err", "err", 0),
    Col("host:pid", "host", 4),
    Col("beat", "beat", 3),
    Col("rss", "rss", 4),
)


def fit(columns: tuple[Col, ...], rows: list[tuple[str, list[Any]]], budget: int, table: DataTable):
    """The columns that fit in `budget` cells and the rows cut to them: the highest rank is left
    out first (the right-most of a rank first); rank 0 always stays. A column the table shows now
    counts at least its current width (sync_table narrows a column only after a while)."""
    shown = shown_widths(table)
    widths = [
        max([cell_width(c.label), shown.get(c.key, 0), *(cell_width(cells[i]) for _, cells in rows)])
        + 2 * table.cell_padding
        for i, c in enumerate(columns)
    ]
    keep = list(range(len(columns)))
    for index in sorted(keep, key=lambda i: (-columns[i].rank, -i)):
        if sum(widths[i] for i in keep) <= budget or columns[index].rank == 0:
            break
        keep.remove(index)
    return (
        [(columns[i].label, columns[i].key) for i in keep],
        [(key, [cells[i] for i in keep]) for key, cells in rows],
    )


def spark_cell(values: list[int], style: str) -> Text:
    """A sparkline (a bar per minute) with its scale: its top bar's count."""
    text = Text(widgets.sparkline(values, SPARK), style=style)
    text.append(f" max {max(values[-SPARK:], default=0):,}/min", style="dim")
    return text


class MainScreen(DataScreen):
    DEFAULT_CSS = """
    MainScreen #queues { height: auto; max-height: 60%; }
    MainScreen #detail { height: auto; padding: 0 1; }
    MainScreen #workers { height: 1fr; }
    """
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
        yield Static("", id="detail")
        yield Static("", id="workers-title")
        yield DataTable(id="workers", cursor_type="none", show_cursor=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "jobctl dash"
        self.sub_title = "queues"
        self.query_one("#queues", DataTable).focus()

    def on_resize(self) -> None:
        if self.last:
            self.show(self.last)

    def read(self, connection, settings) -> dict[str, Any]:
        return data.read_main(connection, settings)

    @property
    def tall(self) -> bool:
        return self.size.height >= DETAIL_MIN_HEIGHT

    def show(self, result: dict[str, Any]) -> None:
        self.last = result
        self._loaded = True
        minutes = result.get("window_minutes", data.WINDOW_MINUTES)
        self.sub_title = f"queues · done/min, err%, p95 wait: last {minutes}m"
        rows = self._queue_rows(result)
        table = self.query_one("#queues", DataTable)
        scrollbar = 2 if len(rows) + 1 > max(1, int(self.size.height * 0.6)) else 0
        columns, rows = fit(QUEUE_COLUMNS, rows, self.size.width - scrollbar, table)
        sync_table(table, rows, columns)
        self._show_detail()
        workers = result["workers"]
        live = sum(1 for w in workers if w["alive"])
        gone = f" (+{len(workers) - live} dead)" if live < len(workers) else ""
        # the rows come grouped by host (list_workers); with more than one, say how many
        hosts = len({w.get("host") for w in workers})
        on_hosts = f" on {hosts} hosts" if hosts > 1 else ""
        self.query_one("#workers-title", Static).update(
            Text(
                f"workers: {live}{gone}{on_hosts}   dead letters: {result['stats']['dead_letter']:,}",
                style="bold",
            )
        )
        worker_table = self.query_one("#workers", DataTable)
        rows = self._worker_rows(workers)
        scrollbar = 2 if worker_table.size.height and len(rows) + 1 > worker_table.size.height else 0
        columns, rows = fit(WORKER_COLUMNS, rows, self.size.width - scrollbar, worker_table)
        sync_table(worker_table, rows, columns)

    def _queue_rows(self, result: dict[str, Any]) -> list[tuple[str, list[Any]]]:
        rows: list[tuple[str, list[Any]]] = []
        for q in result["stats"]["queues"]:
            name = q["queue"]
            runs = name != DEAD_LETTER  # it runs nothing: no rates, ages, sparklines
            paused = name in result["paused"]
            spark = result["series"].get(name) or {}
            window = result.get("window", {}).get(name)
            oldest = result.get("oldest", {}).get(name)
            figures: dict[str, Any] = {
                "oldest": widgets.age_text(oldest) if runs else "",
                "workers": str(q["workers"]) if runs else "-",
                "paused": Text("||", style="bold black on yellow") if paused else "",
                "throughput": widgets.rate_text(window["throughput_per_minute"]) if window else "-",
                "errors": widgets.error_text(window),
                "wait_p95": quantile_text(window["wait_ms"], "p95") if window else "-",
                "spark_done": spark_cell(spark.get("completed", []), "green") if runs else "",
                "spark_fail": spark_cell(spark.get("failed", []), "red") if runs else "",
            }
            if not runs:
                figures.update(throughput="", errors="", wait_p95="")
            rows.append((name, self._queue_cells(name, q["totals"], figures)))
            if self.by_priority:  # the dead-letter queue has none
                for prio, counts in q["priorities"].items():
                    rows.append((f"{name}:{prio}", self._queue_cells(f"  {prio}", counts, {})))
        return rows

    @staticmethod
    def _queue_cells(label: str, counts: dict[str, int], figures: dict[str, Any]) -> list[Any]:
        cells: list[Any] = []
        for col in QUEUE_COLUMNS:
            if col.key == "queue":
                cells.append(label)
            elif col.key in COUNTS:
                cells.append(f"{counts[col.key]:,}")
            else:
                cells.append(figures.get(col.key, ""))
        return cells

    def _worker_rows(self, workers: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
        wide = self.size.width >= 110
        rows = []
        for w in workers:
            queues = ",".join(sorted({n.rsplit(":", 1)[0] for n in w["queues"]}))
            running = w.get("current_job_seconds")
            beat = w.get("heartbeat_age_seconds")
            rows.append(
                (
                    w["name"],
                    [
                        widgets.clip(w["name"], 32 if wide else 20),
                        (w["state"] or "-") if w["alive"] else Text("dead", style="red"),
                        widgets.clip(queues, 24 if wide else 20),
                        widgets.clip(w["current_job"] or "-", 20 if wide else 14),
                        widgets.age_text(running) if running is not None else "-",
                        f"{w['jobs_done'] or 0:,}",
                        f"{w['jobs_failed'] or 0:,}",
                        widgets.clip(f"{w.get('host') or '-'}:{w.get('pid') or '-'}", 24),
                        widgets.age_text(beat) if beat is not None else "-",
                        widgets.bytes_text(w.get("rss_bytes")),
                    ],
                )
            )
        return rows

    def selected_queue(self) -> str | None:
        key = selected_key(self.query_one("#queues", DataTable))
        return key.split(":")[0] if key else None

    def _show_detail(self) -> None:
        name = self.selected_queue()
        if not self.last or not name:
            return
        q = next((q for q in self.last["stats"]["queues"] if q["queue"] == name), None)
        if q is None:
            return
        text = Text(f"{name}  ", style="bold")
        if name in self.last["paused"]:
            text.append("PAUSED  ", style="bold yellow")
        if name == DEAD_LETTER:
            text.append(f"{q['totals']['failed']:,} entries; Enter opens them", style="dim")
        elif self.tall:
            self._detail_lines(text, name, q)
        else:
            prios = [
                f"{p}: "
                + " ".join(f"{s[0]}{counts[s]:,}" for s in ("waiting", "active", "scheduled", "failed"))
                for p, counts in q["priorities"].items()
            ]
            text.append("  ".join(prios), style="dim")
        self.query_one("#detail", Static).update(text)

    def _detail_lines(self, text: Text, name: str, q: dict[str, Any]) -> None:
        """The selected queue on a tall screen: rates, time quantiles, priorities, 30 m charts."""
        assert self.last is not None
        minutes = self.last.get("window_minutes", data.WINDOW_MINUTES)
        window = self.last.get("window", {}).get(name)
        oldest = self.last.get("oldest", {}).get(name)
        text.append(f"last {minutes}m: ", style="dim")
        if window:
            text.append(
                f"{widgets.rate_text(window['throughput_per_minute'])} done/min   "
                f"{widgets.error_text(window)} errors ({window['failed']:,} failed attempts, "
                f"{window['completed']:,} done)   "
            )
        else:
            text.append("no metrics   ")
        text.append(f"oldest waiting {widgets.age_text(oldest)}\n")
        for label, key in (("processing", "processing_ms"), ("wait", "wait_ms")):
            times = window[key] if window else {}
            text.append(f"  {label:<11}", style="bold")
            text.append(
                "   ".join(f"{p} {quantile_text(times, p)}" for p in ("p50", "p95", "p99"))
                + f"   avg {widgets.ms_text(times.get('avg'))}\n"
            )
        text.append(f"  {'priorities':<11}", style="bold")
        text.append("(wait/run/fail)  ", style="dim")
        text.append(
            "   ".join(
                f"{p} " + "/".join(f"{counts[s]:,}" for s in ("waiting", "active", "failed"))
                for p, counts in q["priorities"].items()
            )
            + "\n"
        )
        spark = self.last["series"].get(name) or {}
        minutes_shown = data.SPARK_MINUTES
        charts = [
            (f"done, last {minutes_shown}m", spark.get("completed", []), "green"),
            (f"failed, last {minutes_shown}m", spark.get("failed", []), "red"),
        ]
        lines = [widgets.chart(values, minutes_shown, CHART_HEIGHT) for _, values, _ in charts]
        gap = "   "
        for label, values, _ in charts:
            top = f"max {max(values, default=0):,}/min"
            text.append(f"  {label:<{minutes_shown - len(top)}}{top}", style="dim")
            text.append(gap)
        text.append("\n")
        for row in range(CHART_HEIGHT):
            for (_, _, style), chart in zip(charts, lines):
                text.append("  " + chart[row], style=style)
                text.append(gap)
            text.append("\n")
        for _ in charts:
            axis = f"{minutes_shown}m ago"
            text.append(f"  {axis}{'now':>{minutes_shown - len(axis)}}", style="dim")
            text.append(gap)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "queues":
            self._show_detail()

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
