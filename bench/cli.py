#!/usr/bin/env python3
"""Whole-process times of short jobctl commands (issue #21's start-up targets), `rq info` beside them.

    python3 dev.py bench cli                   # a private embedded server in a temporary home
    python3 dev.py bench cli --runs 21         # more runs per command
    python3 dev.py bench cli --redis-url redis://127.0.0.1:6379/0 --json

Each command runs as its own process, the way a shell or a script runs it: one warm-up round, then
--runs rounds that take the commands in turn (so a burst of load on the machine hits all of them
alike). For each: the median, min and max wall time from spawn to exit, and the peak RSS of the
process (bench/wholeprocess.py). jobctl's modules are byte-compiled first, as pip does at install.
The commands get a fresh JOBCTL_HOME, the server's REDIS_URL and a key prefix of their own
(RQ_KEY_PREFIX=bench-<random>), and none of your JOBCTL_*/RQ_*/REDIS_* variables nor
PYTHONDONTWRITEBYTECODE; on a --redis-url server only that prefix's keys are deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import wholeprocess  # bench/wholeprocess.py
from wholeprocess import clean_env, load, load_text, log, run, table, tool

PREFIX = f"bench-{secrets.token_hex(4)}"


def commands(url: str) -> list[dict]:
    """(name, argv, target seconds or None); the targets are issue #21's."""
    jobctl, rq = tool("jobctl"), tool("rq")
    return [
        {"name": "jobctl --version", "argv": [jobctl, "--version"], "target": 0.100},
        {"name": "jobctl stats --json", "argv": [jobctl, "stats", "--json"], "target": 0.250},
        {
            "name": "jobctl enqueue email",
            "argv": [
                jobctl,
                "enqueue",
                "email",
                "--to",
                "ann@example.com",
                "--template",
                "welcome",
                "--data",
                "name=Ann",
                "--data",
                "login_url=https://shop.example/login",
            ],
            "target": 0.300,
        },
        # for comparison: RQ's own monitor, also a Python CLI reading the same server
        {"name": "rq info", "argv": [rq, "info", "--url", url], "target": None},
    ]


@contextmanager
def server(redis_url: str | None) -> Iterator[tuple[str, redis.Redis, str]]:
    """(url, client, description): --redis-url as given, else a private embedded server."""
    if redis_url:
        conn = redis.Redis.from_url(redis_url, socket_connect_timeout=5)
        try:
            yield redis_url, conn, redis_url
        finally:
            deleted = delete_prefixed(conn)
            log(f"deleted this run's {deleted} key(s) ({PREFIX}:*)")
        return
    from private_server import private_embedded  # lazy: imports jobctl, only for the embedded server

    log("starting a private embedded server")
    with private_embedded("cli") as (settings, conn):
        yield settings.redis_url, conn, "private embedded server"


def delete_prefixed(conn: redis.Redis) -> int:
    deleted, batch = 0, []
    for key in conn.scan_iter(match=f"{PREFIX}:*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += conn.unlink(*batch)
            batch.clear()
    if batch:
        deleted += conn.unlink(*batch)
    return deleted


def waiting(conn: redis.Redis) -> int:
    """Jobs waiting in this run's queues (RQ keeps a queue as a list at <prefix>:queue:<name>)."""
    keys = [k for k in conn.scan_iter(match=f"{PREFIX}:queue:*", count=1000) if conn.type(k) == b"list"]
    return sum(conn.llen(k) for k in keys)


def measure(url: str, home: Path, runs: int, warmup: int) -> list[dict]:
    env = clean_env(JOBCTL_HOME=str(home), REDIS_URL=url, RQ_KEY_PREFIX=PREFIX)
    cmds = commands(url)
    samples: dict[str, list[wholeprocess.Measured]] = {c["name"]: [] for c in cmds}
    for round_ in range(warmup + runs):
        for c in cmds:
            m = run(c["argv"], env)
            if m.returncode:
                tail = "\n".join(m.stderr.strip().splitlines()[-5:])
                raise SystemExit(f"bench: {c['name']} exited with {m.returncode}:\n{tail}")
            if round_ >= warmup:
                samples[c["name"]].append(m)
    rows = []
    for c in cmds:
        walls = [m.wall for m in samples[c["name"]]]
        rss = [m.max_rss_mib for m in samples[c["name"]]]
        median = statistics.median(walls)
        rows.append(
            {
                "name": c["name"],
                "argv": [Path(c["argv"][0]).name, *c["argv"][1:]],
                "runs": len(walls),
                "median_ms": median * 1000,
                "min_ms": min(walls) * 1000,
                "max_ms": max(walls) * 1000,
                "rss_mib": statistics.median(rss),
                "rss_max_mib": max(rss),
                "target_ms": c["target"] * 1000 if c["target"] else None,
                "meets": None if c["target"] is None else median <= c["target"],
            }
        )
    return rows


def render(result: dict) -> str:
    machine, enqueued = result["machine"], result["enqueued"]
    rows = [
        [
            r["name"],
            f"{r['median_ms']:.0f}",
            f"{r['min_ms']:.0f}",
            f"{r['max_ms']:.0f}",
            f"{r['rss_mib']:.1f}",
            f"<= {r['target_ms']:.0f} ms" if r["target_ms"] else "-",
            "-" if r["meets"] is None else ("yes" if r["meets"] else "NO"),
        ]
        for r in result["rows"]
    ]
    header = ["command", "median ms", "min ms", "max ms", "peak RSS MiB", "target", "meets"]
    return "\n".join(
        [
            f"jobctl bench cli - {machine['cpu_count']} CPUs, Python {machine['python']}, "
            f"jobctl {machine['jobctl']}",
            f"server: {result['server']}; key prefix {PREFIX}",
            f"{result['runs']} runs per command after {result['warmup']} warm-up, rounds interleaved; "
            f"{result['seconds']:.0f} s; load average (1, 5, 15 min) {load_text(*result['load'])}",
            "Whole process, spawn to exit; the targets (issue #21) are for the median.",
            "",
            table(rows, header),
            "",
            f"queued by the enqueue runs: {enqueued['waiting']} of {enqueued['expected']} "
            + ("(ok)" if enqueued["waiting"] == enqueued["expected"] else "(MISMATCH)"),
        ]
    )


def jobctl_version() -> str:
    m = subprocess.run([tool("jobctl"), "--version"], capture_output=True, text=True)
    return m.stdout.strip().split()[-1] if m.returncode == 0 and m.stdout.strip() else "?"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/cli.py", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="measured runs per command (default 9)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first (default 1)")
    parser.add_argument(
        "--redis-url", help="a server to use instead of a private embedded one (only this run's keys go)"
    )
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON instead of the table")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")
    began, load_start = time.perf_counter(), load()
    home = Path(tempfile.mkdtemp(prefix="jobctl-bench-cli-home-"))
    try:
        with server(args.redis_url) as (url, conn, where):
            conn.ping()
            info = conn.info("server")
            name = "Valkey" if "valkey_version" in info else "Redis"
            version = info.get("valkey_version") or info.get("redis_version")
            wholeprocess.compile_package()
            log(f"{args.warmup} warm-up round(s) and {args.runs} measured round(s) of 4 commands")
            rows = measure(url, home, args.runs, args.warmup)
            queued = waiting(conn)
        result = {
            "machine": {
                "cpu_count": os.cpu_count(),
                "python": sys.version.split()[0],
                "jobctl": jobctl_version(),
            },
            "server": f"{name} {version}, {where}",
            "prefix": PREFIX,
            "runs": args.runs,
            "warmup": args.warmup,
            "seconds": time.perf_counter() - began,
            "load": [load_start, load()],
            "rows": rows,
            # every `jobctl enqueue email` run left one waiting job: the command did its work
            "enqueued": {"expected": args.warmup + args.runs, "waiting": queued},
        }
        print(json.dumps(result, indent=2) if args.json else render(result))
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
