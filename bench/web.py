#!/usr/bin/env python3
"""What the web dashboard's overview costs in server time, with 0 and 1,000,000 waiting jobs
(issue 19: "the overview renders in <= 50 ms server time with 1,000,000 waiting jobs").

    python3 dev.py bench web                   # embedded server in a temporary home
    python3 dev.py bench web --jobs 200000     # a quicker look

Two measures, each --repeat times in this process against the same server: the page's work alone
(`read_overview` and the template render), and a whole signed-in GET /admin/jobs through Starlette's
TestClient (routing, session lookup, headers). The table gives the median and p95 in milliseconds.
Numbers are printed, never asserted.

How the waiting jobs are made: a few real jobs are enqueued first (so the head of the queue, which
the overview reads for "oldest waiting", is a real job), then the rest of the queue's Redis list is
filled with bare job ids by pipelined RPUSH. The overview never reads past the head of a list
(LLEN and LINDEX 0), so a bare id costs it what a real job does; enqueueing 1,000,000 real jobs
would only make the bench take minutes longer. The keys live under a private RQ prefix on a private
embedded server; they are deleted at the end and the server stopped.
"""

from __future__ import annotations

import os
import secrets
import sys

PREFIX = f"bench-{secrets.token_hex(4)}"
os.environ["RQ_KEY_PREFIX"] = PREFIX

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import redis  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from private_server import private_embedded  # noqa: E402 - bench/private_server.py

from jobctl.core import tokens  # noqa: E402
from jobctl.core.bulk import enqueue_many  # noqa: E402
from jobctl.core.catalog import queue_catalog  # noqa: E402
from jobctl.core.enqueue import rq_queue  # noqa: E402
from jobctl.http import create_app  # noqa: E402
from jobctl.web.common import ANONYMOUS, templates  # noqa: E402
from jobctl.web.overview import read_overview  # noqa: E402

QUEUE = "email-sending"
REAL_JOBS = 10
CHUNK = 10_000  # ids per pipelined RPUSH


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def fill(conn: redis.Redis, settings, waiting: int) -> None:
    """`waiting` jobs waiting on QUEUE: REAL_JOBS real ones at the head, bare ids behind them."""
    enqueue_many(conn, settings, "noop", [{}] * min(REAL_JOBS, waiting), queue=QUEUE)
    lists = [rq_queue(conn, name).key for name in queue_catalog(settings)[QUEUE].physical_names]
    [key] = [k for k in lists if conn.llen(k)]  # the list the real jobs went to (their priority's)
    left = waiting - min(REAL_JOBS, waiting)
    with conn.pipeline(transaction=False) as pipe:
        for start in range(0, left, CHUNK):
            pipe.rpush(key, *(f"bench-{n}" for n in range(start, min(start + CHUNK, left))))
            if len(pipe) >= 20:
                pipe.execute()
        pipe.execute()


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and p95 milliseconds of `repeat` calls (after one warm-up call)."""
    fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]


def measures(conn: redis.Redis, settings, client: TestClient) -> dict[str, Callable[[], object]]:
    template = templates.get_template("overview.html")

    def page_work() -> str:
        data = read_overview(conn, settings)
        return template.render(who=ANONYMOUS, can_act=False, data=data)

    def whole_get() -> None:
        reply = client.get("/admin/jobs")
        assert reply.status_code == 200, reply.status_code

    return {"read_overview + render": page_work, "GET /admin/jobs (TestClient)": whole_get}


def delete_keys(conn: redis.Redis) -> int:
    deleted = 0
    batch: list[bytes] = []
    for key in conn.scan_iter(match=f"{PREFIX}:*", count=1000):
        batch.append(key)
        if len(batch) == 1000:
            deleted += conn.unlink(*batch)
            batch = []
    if batch:
        deleted += conn.unlink(*batch)
    return deleted


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/web.py", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    with private_embedded("web") as (settings, conn):
        token = tokens.create_token(conn, settings, "bench-viewer", "viewer")["token"]
        results: dict[str, dict[int, tuple[float, float]]] = {}
        with TestClient(create_app(settings, conn), follow_redirects=False) as client:
            assert client.post("/admin/jobs/login", data={"token": token}).status_code == 303
            for waiting in (0, args.jobs):
                if waiting:
                    log(f"filling {waiting:,} waiting jobs ({REAL_JOBS} real, the rest bare ids)")
                    started = time.perf_counter()
                    fill(conn, settings, waiting)
                    log(f"... in {time.perf_counter() - started:.1f} s")
                shown = read_overview(conn, settings)
                [row] = [q for q in shown["queues"] if q["name"] == QUEUE]
                assert row["totals"]["waiting"] == waiting, row["totals"]
                for name, fn in measures(conn, settings, client).items():
                    results.setdefault(name, {})[waiting] = timed(fn, args.repeat)
        memory = conn.info("memory")["used_memory_human"]
        log(f"deleted {delete_keys(conn):,} keys under {PREFIX}:")
        print(
            f"\nThe overview with 0 and {args.jobs:,} jobs waiting on {QUEUE} (server memory {memory}); "
            f"ms, median and p95 of {args.repeat}, in process"
        )
        print(f"{'measure':<30} {'jobs waiting':>12} {'median ms':>10} {'p95 ms':>8}")
        for name, by in results.items():
            for waiting, (median, p95) in by.items():
                print(f"{name:<30} {waiting:>12,} {median:>10.2f} {p95:>8.2f}")
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
