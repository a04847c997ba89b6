"""The progress bar of long CLI operations (bulk enqueue, backfills, seeding, key rotation): on
stderr, gone when done, off in --json mode so stdout stays one JSON document.

Its own module so commands that never show one do not import rich.progress at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from jobctl.cli.common import stderr


@dataclass
class Bar:
    progress: Progress
    task: TaskID

    def advance(self, n: int) -> None:
        self.progress.advance(self.task, n)

    def update(self, done: int, total: int | None, stage: str | None = None, **fields: Any) -> None:
        """`done` of `total`; `stage` fills the label's {task.description}, `fields` {task.fields[...]}."""
        extra = {"description": stage} if stage is not None else {}
        self.progress.update(self.task, completed=done, total=total, **extra, **fields)


@contextmanager
def progress_bar(
    label: str, *, as_json: bool, total: int | None = None, stage: str = "", **fields: Any
) -> Iterator[Bar]:
    """`stage` and `fields`: what the label shows until the first update."""
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=as_json,
    ) as progress:
        yield Bar(progress, progress.add_task(stage, total=total, **fields))
