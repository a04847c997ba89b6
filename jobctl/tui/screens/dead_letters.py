"""The dead-letter queue: its entries or its error groups, filtered server side over every entry, with
replay and purge of one entry or of everything the filter matches, previewed (a dry run) first."""

from __future__ import annotations

import textwrap
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Header, Input, Static

from jobctl.core import dlq
from jobctl.core.dlq_groups import fingerprint as error_fingerprint
from jobctl.tui import data, widgets
from jobctl.tui.screens.base import DataScreen, selected_key, sync_table
from jobctl.tui.widgets import ConfirmScreen

QUEUE_WIDTH = 15
SHORT_ID = 8  # the table shows the start of a job id; the detail pane below shows it whole
SEEN_WIDTH = 15
COUNT_WIDTH = 6
GROUP_QUEUES_WIDTH = 17
CHROME = 2  # the table's vertical scrollbar


class PreviewConfirmScreen(ConfirmScreen):
    """A confirmation whose text wraps, never cut: a bulk change's preview can run to many lines."""

    DEFAULT_CSS = """
    PreviewConfirmScreen > Vertical { width: 72; max-width: 100%; max-height: 100%; }
    PreviewConfirmScreen #question { width: 100%; }
    """


def error_cell(error_type: str | None, message: str | None, width: int) -> str:
    """The error as the table shows it, without the exception type (the detail pane has it): the
    message itself when it fits, else its fingerprint (ids, addresses and numbers masked, status
    codes such as 550 kept), which is shorter and puts the part that tells failures apart first."""
    message = " ".join((message or "").split())
    if len(message) <= width:
        return message
    return _fit(error_fingerprint(error_type or "Error", message).partition(": ")[2], width)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _lines(text: str, width: int, height: int) -> Text:
    """`text` wrapped to `height` lines of `width`, the last one ending in … when it goes on."""
    lines = textwrap.wrap(text, width, break_on_hyphens=False) or [""]
    if len(lines) > height:
        lines = lines[:height]
        lines[-1] = _fit(lines[-1] + " …", width) if len(lines[-1]) + 2 <= width else _fit(lines[-1], width)
    return Text("\n".join(lines))


class DeadLetterScreen(DataScreen):
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("g", "toggle_groups", "Groups"),
        Binding("r", "replay", "Replay"),
        Binding("x", "purge", "Purge"),
        Binding("R", "replay_all", "Replay all", show=False),
        Binding("X", "purge_all", "Purge all", show=False),
        Binding("n", "next_page", "Next"),
        Binding("N", "prev_page", "Prev page", show=False),
        Binding("question_mark", "app.help", "Help"),
        Binding("escape,q", "back", "Back"),
    ]
    DEFAULT_CSS = """
    DeadLetterScreen #filter { height: 3; }
    DeadLetterScreen #summary { height: auto; max-height: 2; padding: 0 1; }
    DeadLetterScreen #dead, DeadLetterScreen #groups { height: 1fr; }
    DeadLetterScreen #entry-box { height: 1fr; border-top: solid $accent; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self.cursor: str | None = None
        self.cursors: list[str | None] = []
        self.selected: str | None = None
        self.page: dict[str, Any] | None = None
        self.grouped = False
        self.groups: dict[str, Any] | None = None
        self.fingerprint: str | None = None  # the group the entry list is narrowed to
        self.group: dict[str, Any] | None = None  # that group, as last read
        self.selected_group: str | None = None
        self._widths = 0

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Input(placeholder="filter: queue name or error text, Enter to apply", id="filter")
        yield Static("", id="summary")
        yield DataTable(id="dead", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="groups", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="entry-box"):
            yield Static("", id="entry")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "jobctl dash"
        self.query_one("#groups", DataTable).display = False
        self._columns()
        self._show_view()

    def on_resize(self) -> None:
        if self.size.width != self._widths:
            self._columns()
            self.app.refresh_now()

    def _columns(self) -> None:
        """Column widths from the screen's: the error takes what the others leave, never less than 20."""
        width = self.size.width or self.app.size.width
        self._widths = width
        entries = self.query_one("#dead", DataTable)
        entries.clear(columns=True)
        self.error_width = max(20, width - CHROME - 14 - QUEUE_WIDTH - (SHORT_ID + 1) - 2 * 4)
        for label, w in (
            ("died (UTC)", 14),
            ("queue", QUEUE_WIDTH),
            ("error", self.error_width),
            ("job id", SHORT_ID + 1),
        ):
            entries.add_column(label, key=label, width=w)
        groups = self.query_one("#groups", DataTable)
        groups.clear(columns=True)
        self.group_error_width = max(
            20, width - CHROME - COUNT_WIDTH - SEEN_WIDTH - GROUP_QUEUES_WIDTH - 2 * 4
        )
        for label, w in (
            ("count", COUNT_WIDTH),
            ("first/last seen", SEEN_WIDTH),
            ("queues", GROUP_QUEUES_WIDTH),
            ("error", self.group_error_width),
        ):
            groups.add_column(label, key=label, width=w)

    def _show_view(self) -> None:
        entries, groups = self.query_one("#dead", DataTable), self.query_one("#groups", DataTable)
        entries.display, groups.display = not self.grouped, self.grouped
        (groups if self.grouped else entries).focus()
        self.sub_title = "dead letters by error" if self.grouped else "dead letters"

    def _key(self) -> tuple:
        return (self.grouped, self.text, self.cursor, self.fingerprint)

    def read(self, connection, settings) -> dict[str, Any]:
        key = self._key()
        if key[0]:
            return {"key": key, "groups": data.read_dlq_groups(connection, settings)}
        # positional: the tests' `frozen` fixture wraps read_dlq as read_dlq(*args)
        result = data.read_dlq(connection, settings, self.text, self.cursor, self.selected, self.fingerprint)
        return {"key": key, **result}

    def show(self, result: dict[str, Any]) -> None:
        if result["key"] != self._key():
            return
        if self.grouped:
            self._show_groups(result["groups"])
        else:
            self._show_entries(result)
        self._loaded = True

    # --- the entries ---------------------------------------------------------------------------

    def _show_entries(self, result: dict[str, Any]) -> None:
        self.page = page = result["page"]
        table = self.query_one("#dead", DataTable)
        sync_table(
            table,
            [
                (
                    e["job_id"],
                    [
                        widgets.fmt_time(e["died_at"]),
                        _fit(e["queue"], QUEUE_WIDTH),
                        error_cell(e["error_type"], e["error_message"], self.error_width),
                        _fit(e["job_id"], SHORT_ID + 1),
                    ],
                )
                for e in page["entries"]
            ],
        )
        key = selected_key(table)
        if key != self.selected:
            self.selected = key
            self.app.refresh_now()
        entry = result["entry"] if result["entry"] and result["entry"]["job_id"] == key else None
        self.query_one("#entry", Static).update(widgets.dlq_text(entry))
        self.query_one("#summary", Static).update(Text(self._entries_summary(page), style="dim"))

    def _entries_summary(self, page: dict[str, Any]) -> str:
        shown = len(page["entries"])
        summary = f"{page['total']:,} dead job(s)"
        if self.fingerprint:
            summary += f"; group {self.fingerprint}"
        if self.text:
            summary += f"; matching '{self.text}'"
        if self.fingerprint or self.text:
            if page.get("scan_stopped"):
                summary += (
                    f"; searched {page['scanned']:,} entries (the limit per read): {shown} match so far, "
                    "n searches on"
                )
            else:
                summary += f": {shown} on this page" + (", more: n" if page["next_cursor"] else "")
        elif page["next_cursor"]:
            summary += "; n: next page"
        if self.cursors:
            summary += f"; page {len(self.cursors) + 1}"
        if self.fingerprint or self.text:
            summary += "; R/X: replay/purge all matching"
        return summary

    # --- the groups ----------------------------------------------------------------------------

    def _show_groups(self, result: dict[str, Any]) -> None:
        self.groups = result
        table = self.query_one("#groups", DataTable)
        rows = []
        for g in result["groups"]:
            queues = [f"{q} {n}" for q, n in g["queues"].items()]
            if len(queues) > 2:
                queues = [queues[0], f"+{len(queues) - 1} more"]
            rows.append(
                (
                    g["fingerprint_id"],
                    [
                        Text(f"{g['count']:,}", justify="right"),
                        Text(f"{widgets.fmt_time(g['first_seen'])}\n{widgets.fmt_time(g['last_seen'])}"),
                        Text("\n".join(_fit(q, GROUP_QUEUES_WIDTH) for q in queues)),
                        _lines(g["fingerprint"], self.group_error_width, 2),
                    ],
                )
            )
        _sync_tall(table, rows)
        self.selected_group = selected_key(table)
        group = self._group(self.selected_group)
        self.query_one("#entry", Static).update(group_text(group))
        summary = (
            f"{result['total_entries']:,} dead job(s) in {result['total_groups']} error group(s); "
            "Enter: a group's entries, r/x: replay/purge a group, g: all entries"
        )
        if not result["backfill_done"]:
            summary += "; older entries are still being grouped (counts short)"
        self.query_one("#summary", Static).update(Text(summary, style="dim"))

    def _group(self, fingerprint_id: str | None) -> dict[str, Any] | None:
        for g in (self.groups or {}).get("groups", []):
            if g["fingerprint_id"] == fingerprint_id:
                return g
        return None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key else None
        if event.data_table.id == "groups":
            if key != self.selected_group:
                self.selected_group = key
                self.query_one("#entry", Static).update(group_text(self._group(key)))
            return
        if key != self.selected:
            self.selected = key
            self.app.refresh_now()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "groups" and event.row_key is not None:
            self.open_group(event.row_key.value)

    def open_group(self, fingerprint_id: str | None) -> None:
        """The entry list, narrowed to one group (the filter box still applies on top)."""
        if not fingerprint_id:
            return
        self.group = self._group(fingerprint_id)
        self.fingerprint = fingerprint_id
        self.grouped = False
        self._reset()
        self._show_view()

    def action_toggle_groups(self) -> None:
        self.grouped = not self.grouped
        self._loaded = False
        self._show_view()
        self.app.refresh_now()

    # --- filter and pages ----------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.apply_filter(event.value)

    def apply_filter(self, text: str) -> None:
        """Search every dead letter (server side) for `text`; from the groups, it shows entries."""
        self.text = text.strip()
        self.grouped = False
        self._reset()
        self._show_view()

    def _reset(self) -> None:
        self.cursor, self.cursors, self.selected = None, [], None
        self._loaded = False
        self.query_one("#dead", DataTable).clear()
        self.app.refresh_now()

    def action_next_page(self) -> None:
        if not self.grouped and self.page and self.page["next_cursor"]:
            self.cursors.append(self.cursor)
            self.cursor = self.page["next_cursor"]
            self.selected = None
            self.app.refresh_now()

    def action_prev_page(self) -> None:
        if not self.grouped and self.cursors:
            self.cursor = self.cursors.pop()
            self.selected = None
            self.app.refresh_now()

    def action_back(self) -> None:
        if self.focused is self.query_one("#filter", Input):
            self._show_view()
            return
        if self.fingerprint and not self.grouped:  # from a group's entries back to the groups
            self.fingerprint, self.group = None, None
            self.grouped = True
            self._loaded = False
            self._show_view()
            self.app.refresh_now()
            return
        self.app.pop_screen()

    # --- one entry -----------------------------------------------------------------------------

    def _ask(self, question: str, fn, verb: str) -> None:
        job_id = self.selected
        if not job_id:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.mutate(fn, [job_id], done=lambda result: self._report(result, verb))

        self.app.push_screen(PreviewConfirmScreen(question.format(job_id=job_id)), answered)

    def _report(self, result: dict[str, Any], verb: str) -> None:
        done = result[verb]
        if done:
            self.notify(f"{verb} {len(done)}: {', '.join(done[:3])}" + (" …" if len(done) > 3 else ""))
        if result["not_found"]:
            self.notify(f"no longer dead: {len(result['not_found'])} entr(ies)", severity="warning")
        for refused in result.get("refused", []):
            self.notify(f"{refused['id']} not {verb}: {refused['reason']}", severity="error")

    def action_replay(self) -> None:
        if self.grouped:
            self._bulk("replay", {"fingerprint": self.selected_group}, self._group(self.selected_group))
            return
        self._ask("Replay {job_id} on its original queue (attempts reset)?", _replay, "replayed")

    def action_purge(self) -> None:
        if self.grouped:
            self._bulk("purge", {"fingerprint": self.selected_group}, self._group(self.selected_group))
            return
        self._ask("Delete dead job {job_id} and its data for good?", _purge, "purged")

    # --- everything the filter matches -----------------------------------------------------------

    def _filters(self) -> dict[str, str | None]:
        return {**data.dlq_filters(self.app.settings, self.text), "fingerprint": self.fingerprint}

    def action_replay_all(self) -> None:
        if self.grouped:
            self.action_replay()
        else:
            self._bulk("replay", self._filters(), self.group)

    def action_purge_all(self) -> None:
        if self.grouped:
            self.action_purge()
        else:
            self._bulk("purge", self._filters(), self.group)

    def _bulk(self, verb: str, filters: dict[str, str | None], group: dict[str, Any] | None) -> None:
        """Dry run first (the same core call as `jobctl dlq retry|purge --all --dry-run`), then a
        confirmation showing how many and from which queues; Yes acts on exactly the previewed ids."""
        if not any(filters.values()):
            self.notify(
                "filter first (/ or a group): R and X act on what the filter matches", severity="warning"
            )
            return

        def previewed(result: dict[str, Any]) -> None:
            ids = [e if isinstance(e, str) else e["job_id"] for e in result[f"would_{verb}"]]
            if not ids:
                self.notify("no dead letter matches: nothing to do", severity="warning")
                return

            def answered(yes: bool | None) -> None:
                if not yes:
                    self.notify("nothing changed")
                    return
                act, done_key = (_replay, "replayed") if verb == "replay" else (_purge, "purged")
                self.app.mutate(act, ids, done=lambda r: self._report(r, done_key))

            self.app.push_screen(PreviewConfirmScreen(preview_text(verb, result, filters, group)), answered)

        self.app.mutate(_preview, verb, filters, done=previewed)


def preview_text(
    verb: str, result: dict[str, Any], filters: dict[str, str | None], group: dict[str, Any] | None
) -> str:
    """The confirmation of a bulk change: what the dry run found, per queue, and the filter it used."""
    count = len(result[f"would_{verb}"])
    if verb == "replay":
        lines = [f"Replay {count:,} dead job(s) on their original queue and priority (attempts reset)?"]
    else:
        lines = [f"Delete {count:,} dead job(s) and their data for good?"]
    lines.append("")
    width = max(len(q) for q in result["by_queue"])
    lines += [f"  {q:<{width}}  {n:>6,}" for q, n in result["by_queue"].items()]
    lines.append("")
    if filters.get("fingerprint"):
        lines.append(f"error group {filters['fingerprint']}:")
        if group:  # wrapped here to indent it; the label wraps again on a narrower terminal
            lines += textwrap.wrap(
                group["fingerprint"],
                64,
                initial_indent="  ",
                subsequent_indent="    ",
                break_on_hyphens=False,
            )
    if filters.get("queue"):
        lines.append(f"queue {filters['queue']}")
    if filters.get("error_contains"):
        lines.append(f"error text contains '{filters['error_contains']}'")
    lines.append("(these entries exactly, as previewed)")
    return "\n".join(lines)


def group_text(group: dict[str, Any] | None) -> Text:
    """The detail pane of one error group: everything, the sample error whole."""
    if not group:
        return Text("select an error group to see its queues, job types and a sample error", style="dim")
    out = Text()
    out.append(f"group {group['fingerprint_id']}", style="bold")
    out.append(f"  {group['count']:,} dead job(s)\n")
    first, last = widgets.fmt_time(group["first_seen"]), widgets.fmt_time(group["last_seen"])
    out.append(f"first seen {first}  last seen {last}\n")
    out.append("queues ", style="bold")
    out.append(", ".join(f"{q} {n:,}" for q, n in group["queues"].items()) + "\n")
    out.append("job types ", style="bold")
    out.append(", ".join(f"{t} {n:,}" for t, n in group["types"].items()) + "\n")
    out.append("fingerprint ", style="bold")
    out.append(group["fingerprint"] + "\n")
    out.append(f"newest ({group['sample_job_id']}):\n", style="bold")
    out.append(f"{group['error_type']}: {group['sample_error']}\n", style="red")
    out.append("Enter: its entries   r: replay all   x: purge all (each previewed first)", style="dim")
    return out


def _sync_tall(table: DataTable, rows: list[tuple[str, list[Any]]]) -> None:
    """sync_table for rows two lines high (a group's first/last seen and wrapped error)."""
    keys = [k for k, _ in rows]
    if keys == [rk.value for rk in table.rows]:
        sync_table(table, rows)
        return
    selected = selected_key(table)
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key, height=2)
    if selected in keys:
        table.move_cursor(row=keys.index(selected), animate=False)


def _preview(connection, settings, verb, filters):
    fn = dlq.replay if verb == "replay" else dlq.purge
    return fn(connection, settings, everything=True, dry_run=True, **filters)


def _replay(connection, settings, ids):
    return dlq.replay(connection, settings, ids)


def _purge(connection, settings, ids):
    return dlq.purge(connection, settings, ids)
