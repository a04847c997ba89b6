#!/usr/bin/env python3
"""What `jobctl stats`, `jobctl metrics` and one `jobctl dash` refresh cost, with 0 and 1M waiting jobs.

    python3 dev.py bench dash                      # embedded server in a temporary home
    python3 dev.py bench dash --jobs 200000        # a quicker look

Each read runs --repeat times against the same server; the table gives milliseconds per call
and, for the 1 s dashboard refresh, the share of one CPU core it takes. Numbers are printed,
never asserted.
"""

from __future__ import annotations

import os
import secrets
import sys

PREFIX = f"bench-{secrets.token_hex(4)}"
os.environ["RQ_KEY_PREFIX"] = PREFIX

import argparse  # noqa: E402
import time  # noqa: E402

import redis  # noqa: E402
from private_server import private_embedded  # noqa: E402 - bench/private_server.py

from jobctl.core.bulk import enqueue_many  # noqa: E402
from jobctl.core.catalog import queue_catalog  # noqa: E402
from jobctl.core.metrics import window_stats  # noqa: E402
from jobctl.core.prometheus import render  # noqa: E402
from jobctl.core.stats import queue_stats  # noqa: E402


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def reads(conn: redis.Redis, settings) -> dict:
    from jobctl.tui import data

    names = [p for p in queue_catalog(settings) if p != "dead-letter"]
    return {
        "stats (queue_stats)": lambda: queue_stats(conn, settings),
        "stats --window 1h": lambda: window_stats(conn, names, 3600),
        "metrics (Prometheus)": lambda: render(conn, settings),
        "dash refresh: main screen": lambda: data.read_main(conn, settings),
        "dash refresh: jobs screen": lambda: data.read_jobs(conn, settings, "email-sending", "waiting", None),
    }


def timed(fn, repeat: int) -> tuple[float, float]:
    fn()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - wall) / repeat * 1000, (time.process_time() - cpu) / repeat * 1000


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/dash.py", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args(argv)
    with private_embedded("dash") as (settings, conn):
        results: dict[str, dict[int, tuple[float, float]]] = {}
        for waiting in (0, args.jobs):
            if waiting:
                log(f"enqueueing {waiting:,} waiting jobs")
                started = time.perf_counter()
                enqueue_many(conn, settings, "noop", ({} for _ in range(waiting)), queue="email-sending")
                log(f"... in {time.perf_counter() - started:.0f} s")
            for name, fn in reads(conn, settings).items():
                results.setdefault(name, {})[waiting] = timed(fn, args.repeat)
        memory = conn.info("memory")["used_memory_human"]
        print(
            f"\nReads with 0 and {args.jobs:,} waiting jobs (server memory {memory}); ms per call, "
            f"mean of {args.repeat}; CPU = this process"
        )
        print(
            f"{'read':<28} {'0 jobs ms':>10} {f'{args.jobs:,} ms':>14} {'CPU ms':>8} {'1 s refresh CPU':>16}"
        )
        for name, by in results.items():
            (w0, _), (w1, c1) = by[0], by[args.jobs]
            share = f"{c1 / 10:.1f}%" if name.startswith("dash") else ""
            print(f"{name:<28} {w0:>10.2f} {w1:>14.2f} {c1:>8.2f} {share:>16}")
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
