"""What every dashboard screen shares: the refresh contract (`read` off the UI thread, `show` on it)
and keeping a table's cursor through refreshes."""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from rich.cells import cell_len
from rich.text import Text
from textual.screen import Screen
from textual.widgets import DataTable
from textual.widgets.data_table import Column

SPARK = 8
JOB_STATES = ("waiting", "scheduled", "active", "failed", "completed")


def cell_width(cell: Any) -> int:
    """The terminal cells `cell` takes in one table line: a str is read as markup, as DataTable does."""
    text = (
        cell
        if isinstance(cell, Text)
        else Text.from_markup(cell)
        if isinstance(cell, str)
        else Text(str(cell))
    )
    return max((cell_len(line) for line in text.plain.split("\n")), default=0)


# Syncs a narrower column waits before it narrows: a count going 9, 10, 9 must not shift every
# column to its right each second; a widening is immediate (a number is never cut).
NARROW_AFTER = 5
_narrower_for: WeakKeyDictionary[DataTable, dict[Any, int]] = WeakKeyDictionary()
# The columns sync_table sizes: those added without a width. One added with a width keeps it (the
# screen cuts its content to it, as the dead-letter screen's error column).
_sized: WeakKeyDictionary[DataTable, dict[Any, Column]] = WeakKeyDictionary()


def _fit_columns(table: DataTable, rows: list[tuple[str, list[Any]]], settled: bool) -> bool:
    """Give every column added without a width the exact width of its widest cell or label, now,
    not at the table's next Idle (Textual sizes auto-width columns then, so a frame painted before
    it cuts a longer number to the old width). `settled`: the rows are the ones shown before, so a
    narrowing may wait. True when a width changed."""
    waits = _narrower_for.setdefault(table, {})
    sized = _sized.setdefault(table, {})
    changed = False
    for index, (key, column) in enumerate(table.columns.items()):
        if column.auto_width:
            sized[key] = column
        elif sized.get(key) is not column:
            continue
        need = max(
            [cell_width(column.label), *(cell_width(cells[index]) for _, cells in rows if index < len(cells))]
        )
        have = column.width if not column.auto_width else -1
        if need < have and settled:
            waits[key] = waits.get(key, 0) + 1
            if waits[key] < NARROW_AFTER:
                continue
        waits.pop(key, None)
        if need != have:
            column.auto_width, column.width, column.content_width = False, need, need
            changed = True
    return changed


def shown_widths(table: DataTable) -> dict[str, int]:
    """The content width each column has now (one that is waiting to narrow keeps its old one)."""
    return {key.value: column.width for key, column in table.columns.items() if not column.auto_width}


def sync_table(
    table: DataTable, rows: list[tuple[str, list[Any]]], columns: list[tuple[str, str]] | None = None
) -> None:
    """Show `rows` (key, cells), keeping the cursor on the same key; cells updated in place when
    the keys did not change, so a refresh neither flickers nor moves the selection. Every column
    added without a width is as wide as its widest cell from the first frame on: numbers are
    shown whole. `columns` (label,
    key), when given, replaces the table's columns if they differ (a screen that shows more columns
    when it is wider)."""
    keys = [k for k, _ in rows]
    selected = selected_key(table)
    if columns is not None and [(str(c.label), c.key.value) for c in table.ordered_columns] != columns:
        table.clear(columns=True)
        for label, key in columns:
            table.add_column(label, key=key)
    if keys == [rk.value for rk in table.rows]:
        updated = False
        for key, cells in rows:
            for column, cell in zip(list(table.columns), cells):
                if table.get_cell(key, column) != cell:
                    # update_width: the table recomputes its scrollable size on its next Idle
                    table.update_cell(key, column, cell, update_width=True)
                    updated = True
        if _fit_columns(table, rows, settled=True) and not updated and rows:
            # only a width changed: rewriting a cell is the public way to drop the rendered lines
            key, cells = rows[0]
            table.update_cell(key, next(iter(table.columns)), cells[0], update_width=True)
        return
    table.clear()
    _fit_columns(table, rows, settled=False)
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
