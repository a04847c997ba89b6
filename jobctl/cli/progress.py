"""The progress bar of long CLI operations (bulk enqueue, backfills, clear, seeding, key rotation): on
stderr, gone when done, off in --json mode so stdout stays one JSON document, and off when stderr
is not a terminal (a log or a pipe would keep only the blank line it leaves, before an error too).

It shows the stage (`validating`, then `enqueueing`), the count (`1,234/5,000`), the rate of the
current stage and the time since the operation started. `Bar.update` has the signature of
jobctl.core.progress.Progress, `(done, total, stage)`, so it is passed to core as `on_progress`.
`summary` gives the figures of the final line (count, elapsed, rate) for text and --json alike.

Rich is imported when a bar is shown (its columns are in jobctl.cli.progress_columns): the summary
functions and the commands that only may show a bar (enqueue email) do not pay for rich.progress.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobctl.cli.common import stderr

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


@dataclass
class Bar:
    progress: Progress
    task: TaskID
    stage: str = ""
    started: float = field(default_factory=time.monotonic)

    def advance(self, n: int) -> None:
        self.progress.advance(self.task, n)

    def update(self, done: int, total: int | None, stage: str | None = None, **fields: Any) -> None:
        """`done` of `total`; `stage` fills the label's {task.description}, `fields` {task.fields[...]}.
        A new stage starts its rate afresh."""
        extra: dict[str, Any] = {}
        if stage is not None:
            extra["description"] = stage
            if stage != self.stage:
                self.stage = stage
                fields["stage_started"] = time.monotonic()
        self.progress.update(self.task, completed=done, total=total, **extra, **fields)


@contextmanager
def progress_bar(
    label: str = "{task.description}",
    *,
    as_json: bool,
    total: int | None = None,
    stage: str = "",
    unit: str = "jobs",
    **fields: Any,
) -> Iterator[Bar]:
    """`label` may name the stage, {task.description}; `stage` and `fields`: what it shows until the
    first update; `unit`: what the rate counts (jobs/s, rows/s)."""
    # lazy: rich.progress only once a bar is asked for
    from rich.progress import BarColumn, Progress, TextColumn

    from jobctl.cli.progress_columns import CountColumn, ElapsedColumn, RateColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        CountColumn(),
        RateColumn(),
        ElapsedColumn(),
        console=stderr.console,
        transient=True,
        disable=as_json or not stderr.is_terminal,
    ) as progress:
        now = time.monotonic()
        task = progress.add_task(stage, total=total, unit=unit, started=now, stage_started=now, **fields)
        yield Bar(progress, task, stage, now)


def summary(count: int, seconds: float) -> dict[str, Any]:
    """The final line's figures, as --json fields: {count, elapsed_seconds, rate_per_second}."""
    return {
        "count": count,
        "elapsed_seconds": round(seconds, 3),
        "rate_per_second": round(count / seconds, 1) if seconds > 0 else None,
    }


def summary_text(count: int, seconds: float, unit: str = "") -> str:
    """`in 12.3 s (10,037/s)`: the tail of a final summary line."""
    rate = f" ({count / seconds:,.0f}{' ' + unit if unit else ''}/s)" if seconds > 0 else ""
    return f"in {seconds:.2f} s{rate}" if seconds < 10 else f"in {seconds:,.1f} s{rate}"
