"""The job the huey and dramatiq workers run in `python3 dev.py bench`: a no-op (or a sleep) that notes its
start and end time in a local file (BENCH_RECORD) when the bench needs them, never in Redis.

A line is `index start end enqueued` (time.time() values). Only the first and last EDGE jobs of a
no-op run write one (the bench needs only those); latency jobs (enqueued > 0) and sleeping jobs
(I/O-bound run) always do.
"""

from __future__ import annotations

import os
import time

EDGE = 20  # the same as bench/run.py


def run(i: int, n: int, enqueued: float, sleep: float) -> None:
    start = time.time()
    if sleep:
        time.sleep(sleep)
    if enqueued or sleep or i < EDGE or i >= n - EDGE:
        end = time.time()
        with open(os.environ["BENCH_RECORD"], "a") as f:  # one short O_APPEND write: safe across threads
            f.write(f"{i} {start!r} {end!r} {enqueued!r}\n")
