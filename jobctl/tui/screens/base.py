"""What every dashboard screen shares: the refresh contract (`read` off the UI thread, `show` on it)
and keeping a table's cursor through refreshes."""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import DataTable

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
                    table.update_cell(
                        key, column, cell, update_width=True
                    )  # a longer value widens its column
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
