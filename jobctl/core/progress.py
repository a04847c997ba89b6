"""How long core operations report progress: one plain callable, `on_progress(done, total, stage)`.

`done` counts the items handled so far (rows validated, jobs enqueued, jobs removed), `total` is how
many there are (None while unknown) and `stage` names the phase in a few words ("validating",
"enqueueing", "clearing waiting"), so a face can show one bar across phases. Operations call it once
with done=0 before the first item and again after each batch, the last time with done == total.
Core stays free of any UI: the CLI passes its progress bar's `update`, tests a recording list.
(jobctl.data.seed has the same signature; data never imports core.)
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int | None, str], None]


def ignore(done: int, total: int | None, stage: str) -> None:
    """The callback when the caller gave none."""
