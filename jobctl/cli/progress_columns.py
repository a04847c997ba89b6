"""The columns of jobctl.cli.progress's bar: the count, the stage's rate, the time since the start.
Their own module because they subclass Rich's ProgressColumn: it is imported once a bar is shown."""

from __future__ import annotations

import time

from rich.progress import ProgressColumn, Task
from rich.text import Text


class CountColumn(ProgressColumn):
    """`1,234/5,000`, or `1,234` while the total is unknown."""

    def render(self, task: Task) -> Text:
        done = f"{int(task.completed):,}"
        return Text(
            f"{done}/{int(task.total):,}" if task.total is not None else done, style="progress.download"
        )


class RateColumn(ProgressColumn):
    """Items per second over the current stage (an average: steadier than rich's 30 s window, and
    right from a stage's first update, when the count starts again from 0)."""

    def render(self, task: Task) -> Text:
        started = task.fields.get("stage_started")
        seconds = time.monotonic() - started if started is not None else 0.0
        if seconds <= 0 or not task.completed:
            return Text("", style="progress.data.speed")
        unit = task.fields.get("unit", "jobs")
        rate = f"{task.completed / seconds:,.0f}"
        return Text(f"{rate} {unit}/s" if unit else f"{rate}/s", style="progress.data.speed")


class ElapsedColumn(ProgressColumn):
    """Time since the operation started, across stages."""

    def render(self, task: Task) -> Text:
        seconds = int(time.monotonic() - task.fields.get("started", time.monotonic()))
        return Text(
            f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}", style="progress.elapsed"
        )
