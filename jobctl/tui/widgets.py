"""Small pieces the screens share: formatting, sparklines, the confirm/help/unreachable screens."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Label, Static

from jobctl.durations import format_seconds

BARS = "▁▂▃▄▅▆▇█"


def fmt_time(iso: str | None) -> str:
    """'2026-11-29T06:29:17.123+00:00' -> '11-29 06:29:17' (UTC, as stored). Tests replace this."""
    if not iso:
        return "-"
    return iso[5:19].replace("T", " ")


def _or_dash(value: Any) -> Any:
    return "-" if value is None else value


def sparkline(values: list[int], width: int) -> str:
    """The last `width` values as block characters, scaled to their maximum; blank when no data."""
    values = list(values or [])[-width:]
    if not values:
        return " " * width
    top = max(values)
    chars = [
        BARS[0] if top == 0 else BARS[min(len(BARS) - 1, round(v / top * (len(BARS) - 1)))] for v in values
    ]
    return "".join(chars).rjust(width)


def chart(values: list[int], width: int, height: int) -> list[str]:
    """The last `width` values as bars `height` lines tall (top line first), scaled to their
    maximum in eighths of a line; a value above zero shows at least an eighth."""
    values = list(values or [])[-width:]
    values = [0] * (width - len(values)) + values
    top = max(values) if values else 0
    eighths = [0 if not top or not v else max(1, round(v / top * height * 8)) for v in values]
    lines = []
    for row in range(height):
        floor = (height - 1 - row) * 8  # eighths below this line
        lines.append("".join(" " if e <= floor else BARS[min(8, e - floor) - 1] for e in eighths))
    return lines


def age_text(seconds: float | None) -> str:
    """How long something has waited, two units at most: 45s, 12m30s, 3h5m, 2d4h; "-" for none."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole >= 86400:
        whole = round(whole / 3600) * 3600
    elif whole >= 3600:
        whole = round(whole / 60) * 60
    return format_seconds(whole)


def rate_text(per_minute: float | None) -> str:
    """A throughput: 0.07, 2.5, 12, 1,235 (jobs per minute)."""
    if per_minute is None:
        return "-"
    if per_minute >= 10:
        return f"{round(per_minute):,}"
    return f"{per_minute:.2f}".rstrip("0").rstrip(".") or "0"


def error_text(window: dict[str, Any] | None) -> str:
    """Failed attempts among finished ones, in %; "-" when nothing finished in the window."""
    if not window:
        return "-"
    finished = window.get("completed", 0) + window.get("failed", 0)
    return f"{window.get('failed', 0) / finished * 100:.1f}%" if finished else "-"


def ms_text(ms: float | None) -> str:
    """An average time: 0.4ms, 223ms, 1.7s, 2m5s; "-" for none."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.1f}ms" if ms < 10 else f"{round(ms)}ms"
    return format_seconds(round(ms / 1000, 1) if ms < 60_000 else round(ms / 1000))


def bytes_text(count: int | None) -> str:
    return "-" if count is None else f"{count / 2**20:,.0f}MiB"


def clip(text: str, width: int) -> str:
    """`text` in at most `width` cells, an ellipsis marking a cut (names only, never numbers)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def job_text(detail: dict[str, Any] | None) -> Text:
    """The detail pane of one job: status, timings, attempts, payload, error/traceback."""
    out = Text()
    if not detail:
        return Text("select a job to see its payload, attempts and error", style="dim")
    if detail.get("gone"):
        return Text(f"{detail['id']}: {detail['gone']}", style="yellow")
    out.append(f"{detail['id']}", style="bold")
    out.append(
        f"  {detail['type']}  {detail['queue']}:{detail.get('priority') or '-'}  status {detail['status']}\n"
    )
    if detail.get("note"):  # it moved since the list was read: say what it is now
        out.append(f"{detail['note']}\n", style="bold yellow")
    if detail.get("runs_at"):
        out.append(f"runs at {fmt_time(detail['runs_at'])}\n", style="bold")
    out.append(
        f"created {fmt_time(detail.get('created_at'))}  enqueued {fmt_time(detail.get('enqueued_at'))}  "
        f"started {fmt_time(detail.get('started_at'))}  ended {fmt_time(detail.get('ended_at'))}\n"
    )
    attempts = detail.get("attempts") or {}
    out.append(
        f"attempts {attempts.get('made', 0)} of {attempts.get('allowed') or '-'}"
        f"  retries left {_or_dash(attempts.get('retries_left'))}\n"
    )
    for a in attempts.get("history", []):
        error = f"  {a.get('error_type')}: {a.get('error_message')}" if a.get("error_type") else ""
        out.append(f"  #{a.get('n')} {a.get('outcome')} {fmt_time(a.get('started_at'))}{error}\n")
    for r in detail.get("replays") or []:
        out.append(f"replayed {fmt_time(r.get('at'))} by {r.get('by')}\n")
    if detail.get("error"):
        out.append("error\n", style="bold red")
        out.append(detail["error"].rstrip() + "\n", style="red")
    out.append("payload ", style="bold")
    out.append(json.dumps(detail.get("payload"), indent=2, default=str, ensure_ascii=False) + "\n")
    if detail.get("result") is not None:
        out.append("result ", style="bold")
        out.append(json.dumps(detail["result"], default=str) + "\n")
    return out


def dlq_text(entry: dict[str, Any] | None) -> Text:
    if not entry:
        return Text("select an entry to see its attempts and traceback", style="dim")
    out = Text()
    out.append(entry["job_id"], style="bold")
    out.append(
        f"  {entry.get('type')}  {entry.get('queue')}:{entry.get('priority') or '-'}  {entry.get('state')}\n"
    )
    out.append(
        f"died {fmt_time(entry.get('died_at'))}  first enqueued {fmt_time(entry.get('first_enqueued_at'))}"
        f"  attempts {entry.get('attempt_count')}\n"
    )
    for a in entry.get("attempts") or []:
        error = f"  {a.get('error_type')}: {a.get('error_message')}" if a.get("error_type") else ""
        out.append(f"  #{a.get('n')} {a.get('outcome')} {fmt_time(a.get('started_at'))}{error}\n")
    out.append("payload ", style="bold")
    out.append(json.dumps(entry.get("payload"), default=str, ensure_ascii=False) + "\n")
    out.append(f"{entry.get('error_type')}: {entry.get('error_message')}\n", style="bold red")
    out.append((entry.get("traceback") or "").rstrip() + "\n", style="red")
    return out


class ConfirmScreen(ModalScreen[bool]):
    """Yes/No; No has the focus, so Enter alone never destroys anything."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 60; max-width: 95%; height: auto; border: thick $warning;
                               background: $surface; padding: 1 2; }
    ConfirmScreen Horizontal { height: auto; align: center middle; margin-top: 1; }
    ConfirmScreen Button { margin: 0 2; }
    """
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, id="question")
            with Horizontal():
                yield Button("Yes", id="yes", variant="error")
                yield Button("No", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


HELP = """\
[b]Everywhere[/b]
  ?          this help              D, l     dead-letter screen
  F5         refresh now            q, Esc   back; quit on the main screen
[b]Queues[/b] (main screen)
  ↑ ↓        choose a queue         Enter    its jobs
  p          pause / resume         b        counts per priority on/off
  [bold black on yellow]||[/]         a paused queue         done/min, err%, p95 wait: last 15 min
[b]Jobs of a queue[/b]
  Tab, s     next state             S        previous state
  /          search: JOB_ID (any queue), type:email, to:ann@example.com
             or part of one; + state:failed, queue:all; Esc: states again
  ↑ ↓        choose a job           r        retry (a failed job)
  d          delete job (asks)      c        clear this state (asks)
  p          pause / resume         n, N     next / previous 50 jobs
[b]Dead letters[/b]
  /          filter all entries: a queue name or error text, Enter applies
  g          by error / entries     Enter    a group's entries (Esc: back)
  r          replay (asks)          x        purge for good (asks)
  R          replay all matching    X        purge all matching (asks)
  n          next page              N        previous page
[dim]Refreshes about every second; reads cost the same for 10 or 1M jobs.[/dim]"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 80; max-width: 100%; height: auto; max-height: 100%;
                                  border: round $accent; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(HELP, id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)


class UnreachableScreen(Screen[None]):
    """Shown while Redis cannot be reached; the app pops it by itself when Redis is back."""

    DEFAULT_CSS = """
    UnreachableScreen { align: center middle; }
    UnreachableScreen #down { width: 70; max-width: 95%; height: auto; border: heavy $error; padding: 1 2; }
    """
    BINDINGS = [Binding("q", "app.quit", "Quit")]

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Center():
            yield Static(self.message, id="down", markup=False)

    def update(self, message: str) -> None:
        self.message = message
        self.query_one("#down", Static).update(message)
