#!/usr/bin/env python3
"""Bulk enqueue and clear at scale (issue #21): `jobctl enqueue email-bulk` of a 1M-row CSV beside
BullMQ's `addBulk`, `jobctl enqueue noop --count`, and `jobctl clear` of the waiting jobs.

    python3 dev.py bench bulk                  # 1,000,000 rows (Redis needs about 1-2 GB)
    python3 dev.py bench bulk --rows 100000    # a quicker look
    python3 dev.py bench bulk --json

Always on a private embedded server in a temporary home, never on your REDIS_URL: a million email
jobs fill about a gigabyte, and the bench empties its server (FLUSHALL) between the phases. Every
measurement is a whole process, spawn to exit, with its peak RSS (ru_maxrss from os.wait4):

  a. jobctl enqueue email-bulk --template marketing-campaign --recipients FILE --data ... --json
     (FILE: N rows of email,name,plan written first, not timed); then the queue must hold N jobs.
  d. jobctl clear email-sending --yes --json of those N waiting jobs; then the queue must be empty.
  b. node bench/node/bulk.mjs: the same N email-like jobs through BullMQ Queue.addBulk, --chunk jobs
     per call; then its wait list must hold N jobs.
  c. jobctl enqueue noop --count N --json; then the queue must hold N jobs.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import peers  # bench/peers.py: installs BullMQ into bench/node when it is missing
import redis
from wholeprocess import Measured, clean_env, compile_package, load, load_text, log, run, table, tool

PREFIX = f"bench-{secrets.token_hex(4)}"
BULL_PREFIX = f"{PREFIX}-bull"
BULL_QUEUE = "email"
QUEUE = "email-sending"  # where jobctl's email and noop jobs go
TEMPLATE = "marketing-campaign"
# the variables every row shares (the template's own: headline, body, cta_*, unsubscribe_url)
SHARED = {
    "headline": "Winter makers' market",
    "body": "Forty new shops opened this week.\n\nFree shipping on orders over 50 EUR until Sunday.",
    "cta_text": "Browse the market",
    "cta_url": "https://shop.example/winter",
    "unsubscribe_url": "https://shop.example/unsubscribe",
}
PLANS = ("free", "pro", "team")
TARGET_RATE = 15_000  # email-bulk jobs/s, end to end
TARGET_RATIO = 0.9  # email-bulk jobs/s over BullMQ addBulk's
TARGET_RSS = 200  # MiB, email-bulk's peak
TARGET_CLEAR = 10.0  # seconds for 1,000,000 waiting jobs: 100,000 jobs/s


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["email", "name", "plan"])
        out.writerows(
            [f"customer{i}@example.com", f"Customer {i}", PLANS[i % len(PLANS)]] for i in range(rows)
        )


def waiting(conn: redis.Redis) -> int:
    """jobctl's waiting jobs on email-sending, every priority (RQ lists <prefix>:queue:<name>)."""
    keys = [
        k for k in conn.scan_iter(match=f"{PREFIX}:queue:{QUEUE}*", count=1000) if conn.type(k) == b"list"
    ]
    return sum(conn.llen(k) for k in keys)


def sample_bytes(conn: redis.Redis, pattern: str, field: str) -> tuple[int, int] | None:
    """(stored, uncompressed) size of one job hash's payload field, the first that SCAN finds: RQ
    stores its `data` zlib-compressed, BullMQ as plain JSON, so the sizes compare uncompressed."""
    for key in conn.scan_iter(match=pattern, count=1000):
        if conn.type(key) == b"hash" and (value := conn.hget(key, field)) is not None:
            try:
                raw = len(zlib.decompress(value))
            except zlib.error:
                raw = len(value)
            return len(value), raw
    return None


def used_memory(conn: redis.Redis) -> int:
    return int(conn.info("memory")["used_memory"])


def settle(conn: redis.Redis, limit: float = 120.0) -> None:
    """Wait until the server is not rewriting its append-only file: a rewrite that the phase before
    started (a fork copying ~1 GB) would otherwise be timed as part of the next phase, whichever
    system that is. A rewrite that a phase starts itself is still timed with it."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        info = conn.info("persistence")
        if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
            break
        time.sleep(0.2)
    waited = time.perf_counter() - started
    if waited > 0.5:
        log(f"waited {waited:.1f} s for the server's append-only file rewrite to finish")


def phase(name: str, argv: list[str], env: dict, out: Path, jobs: int) -> tuple[Measured, dict]:
    """Run one measured process with stdout to `out`; (measurement, its last JSON line or {})."""
    shown = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(argv)).replace("\n", " ")
    log(f"{name}: {shown[:150]}{'...' if len(shown) > 150 else ''}")
    with out.open("wb") as fh:
        m = run(argv, env, stdout=fh)
    if m.returncode:
        tail = "\n".join(m.stderr.strip().splitlines()[-5:])
        raise PhaseError(f"{name} exited with {m.returncode}: {tail}")
    doc = parse_json(out.read_text())
    log(f"{name}: {m.wall:.1f} s, {jobs / m.wall:,.0f} jobs/s, peak RSS {m.max_rss_mib:.0f} MiB")
    return m, doc


def parse_json(text: str) -> dict:
    """The JSON document a command printed (jobctl: the whole output; node: its last `{` line)."""
    try:
        doc = json.loads(text)
    except ValueError:
        lines = [line for line in text.splitlines() if line.startswith("{")]
        doc = json.loads(lines[-1]) if lines else {}
    return doc if isinstance(doc, dict) else {}


class PhaseError(Exception):
    pass


def row(m: Measured, jobs: int, found: int, **extra) -> dict:
    return {
        "jobs": jobs,
        "seconds": m.wall,
        "rate": jobs / m.wall,
        "rss_mib": m.max_rss_mib,
        "found": found,
        "check": found == jobs,
        **extra,
    }


def measure(args: argparse.Namespace, work: Path, url: str, conn: redis.Redis) -> dict:
    n = args.rows
    env = clean_env(
        JOBCTL_HOME=str(work / "home"),
        REDIS_URL=url,
        RQ_KEY_PREFIX=PREFIX,
        # one command queues at most JOBCTL_MAX_BATCH jobs (default 1,000,000)
        **({"JOBCTL_MAX_BATCH": str(n)} if n > 1_000_000 else {}),
    )
    (work / "home").mkdir()
    result: dict = {"errors": {}}
    recipients = work / "recipients.csv"
    started = time.perf_counter()
    write_csv(recipients, n)
    result["csv"] = {"rows": n, "bytes": recipients.stat().st_size, "seconds": time.perf_counter() - started}
    jobctl = tool("jobctl")
    shared = [x for k, v in SHARED.items() for x in ("--data", f"{k}={v}")]

    # a. email-bulk from the CSV, then d. clear of the same waiting jobs
    conn.flushall()
    try:
        before = used_memory(conn)
        settle(conn)
        m, doc = phase(
            "email-bulk",
            [
                jobctl,
                "enqueue",
                "email-bulk",
                "--template",
                TEMPLATE,
                "--recipients",
                str(recipients),
                *shared,
                "--json",
            ],
            env,
            work / "email-bulk.json",
            n,
        )
        count = doc.get("count", len(doc.get("job_ids", [])))
        result["email_bulk"] = row(
            m,
            n,
            waiting(conn),
            reported=count,
            reported_seconds=doc.get("elapsed_seconds"),
            payload_bytes=sample_bytes(conn, f"{PREFIX}:job:*", "data"),
            redis_bytes_per_job=(used_memory(conn) - before) / n,
        )
        settle(conn)
        m, doc = phase("clear", [jobctl, "clear", QUEUE, "--yes", "--json"], env, work / "clear.json", n)
        result["clear"] = {
            **row(m, n, doc.get("total", -1)),
            "reported_seconds": doc.get("elapsed_seconds"),
            "left": waiting(conn),
            "keys_left": sum(1 for _ in conn.scan_iter(match=f"{PREFIX}:job:*", count=1000)),
        }
        result["clear"]["check"] = result["clear"]["check"] and result["clear"]["left"] == 0
    except PhaseError as exc:
        result["errors"]["email_bulk"] = str(exc)

    # b. BullMQ addBulk, in chunks
    conn.flushall()
    why = peers.BullMQ.prepare()
    if why:
        result["errors"]["bullmq"] = why
    else:
        try:
            before = used_memory(conn)
            settle(conn)
            m, doc = phase(
                f"BullMQ addBulk x{args.chunk}",
                [
                    shutil.which("node") or "node",
                    str(peers.NODE_DIR / "bulk.mjs"),
                    "--url",
                    url,
                    "--prefix",
                    BULL_PREFIX,
                    "--queue",
                    BULL_QUEUE,
                    "--jobs",
                    str(n),
                    "--chunk",
                    str(args.chunk),
                    "--template",
                    TEMPLATE,
                    "--data",
                    json.dumps(SHARED),
                ],
                env,
                work / "bullmq.json",
                n,
            )
            result["bullmq"] = row(
                m,
                n,
                conn.llen(f"{BULL_PREFIX}:{BULL_QUEUE}:wait"),
                chunk=args.chunk,
                inner_seconds=doc.get("seconds"),
                payload_bytes=sample_bytes(conn, f"{BULL_PREFIX}:{BULL_QUEUE}:*", "data"),
                redis_bytes_per_job=(used_memory(conn) - before) / n,
            )
        except PhaseError as exc:
            result["errors"]["bullmq"] = str(exc)

    # c. noop --count
    conn.flushall()
    try:
        settle(conn)
        m, doc = phase(
            "noop",
            [jobctl, "enqueue", "noop", "--count", str(n), "--json"],
            env,
            work / "noop.json",
            n,
        )
        result["noop"] = row(m, n, waiting(conn), reported_seconds=doc.get("elapsed_seconds"))
    except PhaseError as exc:
        result["errors"]["noop"] = str(exc)
    conn.flushall()
    return result


def figures(result: dict) -> list[dict]:
    """The table's rows: figure, measured, target, meets (None: no target, for reference)."""
    n = result["rows"]
    eb, bull, noop, clear = (result.get(k) for k in ("email_bulk", "bullmq", "noop", "clear"))
    out = []

    def add(figure: str, value: str, target: str = "-", meets: bool | None = None) -> None:
        out.append({"figure": figure, "measured": value, "target": target, "meets": meets})

    if eb:
        add("email-bulk jobs/s", f"{eb['rate']:,.0f}", f">= {TARGET_RATE:,}", eb["rate"] >= TARGET_RATE)
        add(
            "email-bulk peak RSS MiB", f"{eb['rss_mib']:.0f}", f"<= {TARGET_RSS}", eb["rss_mib"] <= TARGET_RSS
        )
    if eb and bull:
        ratio = eb["rate"] / bull["rate"]
        add("email-bulk / BullMQ addBulk", f"{ratio:.2f}x", f">= {TARGET_RATIO}x", ratio >= TARGET_RATIO)
    if bull:
        add(f"BullMQ addBulk jobs/s ({bull['chunk']:,} per call)", f"{bull['rate']:,.0f}")
        add("BullMQ peak RSS MiB", f"{bull['rss_mib']:.0f}")
    if noop:
        add("noop --count jobs/s", f"{noop['rate']:,.0f}")
        add("noop --count peak RSS MiB", f"{noop['rss_mib']:.0f}")
    if clear:
        # the target is 1M in 10 s; a smaller run is held to the same rate
        target = TARGET_CLEAR * n / 1_000_000
        add(
            f"clear {n:,} waiting s",
            f"{clear['seconds']:.2f}",
            f"<= {target:.2f}",
            clear["seconds"] <= target,
        )
        add("clear jobs/s", f"{clear['rate']:,.0f}")
    return out


def render(result: dict) -> str:
    n = result["rows"]
    lines = [
        f"jobctl bench bulk - {n:,} rows; {result['cpu_count']} CPUs, Python {result['python']}, "
        f"Node {result.get('node') or '-'}",
        f"server: {result['server']}, flushed between phases; key prefix {PREFIX}",
        f"{result['seconds']:.0f} s; load average (1, 5, 15 min) {load_text(*result['load'])}",
        "Whole processes, spawn to exit (start-up and the CSV read included); jobs/s = rows / wall s.",
        "",
        table(
            [
                [
                    f["figure"],
                    f["measured"],
                    f["target"],
                    "-" if f["meets"] is None else "yes" if f["meets"] else "NO",
                ]
                for f in result["figures"]
            ],
            ["figure", "measured", "target", "meets"],
        ),
        "",
    ]
    for key, label in (
        ("email_bulk", "email-bulk"),
        ("bullmq", "BullMQ"),
        ("noop", "noop"),
        ("clear", "clear"),
    ):
        r = result.get(key)
        if not r:
            continue
        what = "removed" if key == "clear" else "waiting after"
        check = "ok" if r["check"] else "MISMATCH"
        extra = ""
        if r.get("payload_bytes"):
            stored, raw = r["payload_bytes"]
            extra += f"; payload {raw:,} B/job" + (f" ({stored:,} B stored)" if stored != raw else "")
        if r.get("redis_bytes_per_job") is not None:
            extra += f", Redis {r['redis_bytes_per_job']:,.0f} B/job"
        if r.get("inner_seconds"):
            extra += (
                f"; addBulk calls alone {r['inner_seconds']:.1f} s ({n / r['inner_seconds']:,.0f} jobs/s)"
            )
        if r.get("reported_seconds") is not None:
            extra += f"; the command's own timer {r['reported_seconds']:.1f} s"
        if key == "clear":
            extra += f"; {r['left']} waiting and {r['keys_left']} job hashes left"
        lines.append(f"{label}: {r['seconds']:.1f} s, {what}: {r['found']:,} of {n:,} ({check}){extra}")
    for key, why in result["errors"].items():
        lines.append(f"{key}: not measured: {why}")
    return "\n".join(lines)


def node_version() -> str | None:
    node = shutil.which("node")
    if not node:
        return None
    done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    return done.stdout.strip() or None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/bulk.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="recipients / jobs (default 1,000,000)")
    parser.add_argument(
        "--chunk", type=int, default=10_000, help="BullMQ jobs per addBulk call (default 10,000)"
    )
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON instead of the table")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.chunk < 1:
        parser.error("--rows and --chunk must be at least 1")
    from private_server import private_embedded  # lazy: imports jobctl

    began, load_start = time.perf_counter(), load()
    work = Path(tempfile.mkdtemp(prefix="jobctl-bench-bulk-"))
    try:
        compile_package()
        log("starting a private embedded server")
        with private_embedded("bulk") as (settings, conn):
            info = conn.info("server")
            name = "Valkey" if "valkey_version" in info else "Redis"
            version = info.get("valkey_version") or info.get("redis_version")
            from jobctl.core.embedded import allocator  # lazy: imports jobctl

            malloc = allocator(int(info["process_id"]), conn.info("memory").get("mem_allocator"))
            result = {
                "rows": args.rows,
                "cpu_count": os.cpu_count(),
                "python": sys.version.split()[0],
                "node": None,
                "server": f"{name} {version}, private embedded, allocator {malloc}",
                "prefix": PREFIX,
            }
            result.update(measure(args, work, settings.redis_url, conn))
        result["node"] = node_version()
        result["seconds"] = time.perf_counter() - began
        result["load"] = [load_start, load()]
        result["figures"] = figures(result)
        print(json.dumps(result, indent=2) if args.json else render(result))
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
