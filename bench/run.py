#!/usr/bin/env python3
"""jobctl next to plain RQ, BullMQ, huey and dramatiq, in one run on one Redis: enqueue rate, no-op
processing rate, Redis commands per job, start latency, and an I/O-bound run.

    python3 dev.py bench                       # jobctl's embedded server in a temporary home
    python3 dev.py bench --redis-url redis://127.0.0.1:6379/0 --repeat 3
    python3 dev.py bench --json                # raw numbers instead of the table
    python3 dev.py bench --peers none          # jobctl and RQ only

Every key lives under a fresh RQ_KEY_PREFIX (bench-<random>), and the peers' keys under names made
from it; only those keys are deleted at the end, so a shared server is safe to use. Numbers are
printed, never asserted.
"""

from __future__ import annotations

import os
import secrets
import sys

# RQ reads RQ_KEY_PREFIX once, at import: set it before anything imports rq. Workers started below
# inherit it through their environment.
PREFIX = f"bench-{secrets.token_hex(4)}"
os.environ["RQ_KEY_PREFIX"] = PREFIX

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import peers  # noqa: E402 - bench/peers.py: BullMQ, huey, dramatiq
import redis  # noqa: E402
import rq  # noqa: E402
from rq import Queue  # noqa: E402
from rq.job import Job  # noqa: E402
from rq.registry import FailedJobRegistry, StartedJobRegistry  # noqa: E402
from rq.serializers import JSONSerializer  # noqa: E402

import jobctl  # noqa: E402
from jobctl.config import load_settings  # noqa: E402
from jobctl.core import embedded, runtime  # noqa: E402
from jobctl.core.bulk import enqueue, enqueue_many  # noqa: E402
from jobctl.core.catalog import queue_catalog  # noqa: E402
from jobctl.core.enqueue import rq_queue  # noqa: E402
from jobctl.core.payloads import generate_key  # noqa: E402

assert rq.defaults.RQ_KEY_PREFIX == PREFIX, "rq was imported before RQ_KEY_PREFIX was set"

NOOP = "jobctl.jobs.noop.noop"  # the function behind jobctl's "noop" job type; RQ runs the same one
JOBCTL_QUEUE = "email-sending"  # where jobctl's "noop" job type goes (normal priority)
RQ_QUEUE = "bench"
JSON_SERIALIZER = "rq.serializers.JSONSerializer"
EDGE = 20  # jobs at each end of a run whose timestamps give the worker-side rate
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
ENCRYPTION_KEY = (
    generate_key()
)  # the "jobctl-enc" rows: JOBCTL_ENCRYPTION_KEYS set, in the bench and its workers

# (key, label, kind, processes)
PROCESSING = [
    ("jobctl-1", "jobctl worker", "jobctl", 1),
    ("jobctl-enc-1", "jobctl worker, encrypted", "jobctl-enc", 1),
    ("jobctl-2", "jobctl worker -c 2", "jobctl", 2),
    ("rq-simple-1", "rq SimpleWorker", "rq-simple", 1),
    ("rq-simple-2", "rq SimpleWorker x2", "rq-simple", 2),
    ("rq-fork-1", "rq Worker (fork/job)", "rq-fork", 1),
    ("rq-fork-2", "rq Worker (fork/job) x2", "rq-fork", 2),
]
LATENCY = [
    ("jobctl", "jobctl worker"),
    ("rq-simple", "rq SimpleWorker"),
    ("rq-fork", "rq Worker (fork/job)"),
]
NEEDS_POOL = "n/a (needs --pool)"  # the jobctl worker of this checkout has no --pool thread yet


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# -- the server and the processes we start ----------------------------------------------------


@dataclass
class Target:
    url: str
    home: Path
    embedded: bool
    conn: redis.Redis = field(init=False)
    started: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.conn = redis.Redis.from_url(self.url, socket_connect_timeout=5)
        self.logs = self.home / "bench-logs"
        self.logs.mkdir(exist_ok=True)

    def env(self, encrypted: bool = False) -> dict[str, str]:
        """The children's environment: defaults only (no stray JOBCTL_*/RQ_* settings), our prefix."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("JOBCTL_", "RQ_")) and k not in ("REDIS_URL", "REDIS_PASSWORD")
        }
        env["RQ_KEY_PREFIX"] = PREFIX
        env["JOBCTL_HOME"] = str(self.home)
        env["JOBCTL_TEST_JOB_TYPES"] = "1"  # the I/O-bound run queues `sleep` jobs, a test-only type
        if not self.embedded:
            env["REDIS_URL"] = self.url
        if encrypted:
            env["JOBCTL_ENCRYPTION_KEYS"] = ENCRYPTION_KEY
        return env

    def spawn(
        self, args: list[str], tag: str, encrypted: bool = False, extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        with open(self.logs / f"{tag}.log", "ab") as logfile:
            proc = subprocess.Popen(
                args,
                env={**self.env(encrypted), **(extra_env or {})},
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc.tag = tag  # type: ignore[attr-defined]
        self.started.append(proc)
        return proc

    def log_tail(self, tag: str, lines: int = 12) -> str:
        try:
            return "\n".join((self.logs / f"{tag}.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, proc: subprocess.Popen, timeout: float = 10) -> None:
        """SIGTERM (a warm stop), then SIGKILL, to the process group we gave it; reaps it."""
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        try:  # leftovers in its group (a supervisor's children, a scheduler) go too
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if proc in self.started:
            self.started.remove(proc)

    def clean(self) -> int:
        """Delete every key under our prefix (RQ's, and the peers' names made from it), and nothing else."""
        removed = 0
        batch: list[bytes] = []
        for pattern in (f"{PREFIX}:*", *peers.key_patterns(PREFIX)):
            for key in self.conn.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    removed += self.conn.unlink(*batch)
                    batch.clear()
        if batch:
            removed += self.conn.unlink(*batch)
        return removed

    def calls(self) -> int:
        return command_calls(self.conn)


def command_calls(conn: redis.Redis) -> int:
    """Commands the server has run so far (all clients), from INFO commandstats."""
    return sum(int(v.get("calls", 0)) for v in conn.info("commandstats").values() if isinstance(v, dict))


def parse_ts(raw: bytes | None) -> datetime | None:
    return datetime.strptime(raw.decode(), TS_FORMAT) if raw else None


def rq_cli() -> list[str]:
    found = shutil.which("rq", path=str(Path(sys.executable).parent))
    return (
        [found] if found else [sys.executable, "-c", "import sys; from rq.cli import main; sys.exit(main())"]
    )


def worker_command(
    target: Target, kind: str, burst: bool, concurrency: int = 1, extra: tuple[str, ...] = ()
) -> list[str]:
    if kind.startswith("jobctl"):
        args = [sys.executable, "-m", "jobctl", "worker", "start", "--queue", JOBCTL_QUEUE]
        if concurrency > 1:
            args += ["--concurrency", str(concurrency)]
        return args + (["--burst"] if burst else []) + list(extra)
    worker_class = "rq.worker.SimpleWorker" if kind == "rq-simple" else "rq.Worker"
    args = [*rq_cli(), "worker", "-w", worker_class, "--serializer", JSON_SERIALIZER, "-u", target.url]
    return args + (["--burst"] if burst else []) + [RQ_QUEUE]


# -- what gets measured -----------------------------------------------------------------------


class Systems:
    """The ways to put no-op jobs on a queue: jobctl's API (plain or encrypted payloads) and plain RQ's."""

    def __init__(self, target: Target):
        self.target = target
        flags = {"redis_url": None if target.embedded else target.url, "home": str(target.home)}
        self.settings = {
            kind: load_settings(flags=flags, environ=target.env(kind == "jobctl-enc"), cwd=target.home)
            for kind in ("jobctl", "jobctl-enc")
        }
        self.rq_queue = Queue(RQ_QUEUE, connection=target.conn, serializer=JSONSerializer)
        policy = queue_catalog(self.settings["jobctl"])[JOBCTL_QUEUE]
        self.jobctl_queue = rq_queue(target.conn, policy.physical())

    def queue_of(self, kind: str) -> Queue:
        return self.jobctl_queue if kind.startswith("jobctl") else self.rq_queue

    def _settings(self, kind: str):
        settings = self.settings[kind]
        runtime.install(settings, self.target.conn)  # the serializer encrypts with the process's settings
        return settings

    def bulk(self, kind: str, n: int, job_type: str = "noop", payload: dict | None = None) -> list[str]:
        if kind.startswith("jobctl"):
            payloads = (dict(payload or {}) for _ in range(n))
            return enqueue_many(self.target.conn, self._settings(kind), job_type, payloads)
        jobs = self.rq_queue.enqueue_many([Queue.prepare_data(NOOP, args=[{}]) for _ in range(n)])
        return [job.id for job in jobs]

    def one(self, kind: str) -> str:
        if kind.startswith("jobctl"):
            return enqueue(self.target.conn, self._settings(kind), "noop", {})
        return self.rq_queue.enqueue(NOOP, {}).id


def measure_enqueue(target: Target, systems: Systems, kind: str, mode: str, n: int) -> dict:
    target.clean()
    before = command_calls(target.conn)
    started = time.perf_counter()
    if mode == "bulk":
        ids = systems.bulk(kind, n)
    else:
        ids = [systems.one(kind) for _ in range(n)]
    elapsed = time.perf_counter() - started
    commands = command_calls(target.conn) - before - 1  # the first INFO counts itself
    assert len(ids) == n and systems.queue_of(kind).count == n, "not every job landed"
    return {"jobs": n, "seconds": elapsed, "rate": n / elapsed, "cmds_per_job": commands / n}


def _fill(
    target: Target, systems: Systems, kind: str, n: int, job_type: str = "noop", payload: dict | None = None
) -> list[str]:
    if kind.startswith("jobctl"):
        return systems.bulk(kind, n, job_type, payload)
    ids: list[str] = []
    for start in range(0, n, 1000):  # RQ enqueue_many in one pipeline per 1000, like jobctl
        with target.conn.pipeline() as pipe:
            jobs = systems.rq_queue.enqueue_many(
                [Queue.prepare_data(NOOP, args=[{}]) for _ in range(min(1000, n - start))], pipeline=pipe
            )
            pipe.execute()
        ids += [job.id for job in jobs]
    return ids


def measure_processing(
    target: Target,
    systems: Systems,
    kind: str,
    procs: int,
    n: int,
    timeout: float,
    job_type: str = "noop",
    payload: dict | None = None,
    extra: tuple[str, ...] = (),
    tag: str | None = None,
) -> dict:
    target.clean()
    ids = _fill(target, systems, kind, n, job_type, payload)
    queue = systems.queue_of(kind)
    first, last = ids[:EDGE], ids[-EDGE:]
    starts: dict[str, datetime] = {}
    pending = list(first)
    own = 1  # commands of ours inside the measured window, starting with the first INFO
    before = command_calls(target.conn)
    t0 = time.perf_counter()
    if kind.startswith("jobctl"):
        workers = [
            target.spawn(
                worker_command(target, kind, True, procs, extra),
                tag or f"{kind}-{procs}",
                kind == "jobctl-enc",
            )
        ]
    else:
        workers = [
            target.spawn(worker_command(target, kind, True), f"{kind}-{procs}-{i}") for i in range(procs)
        ]
    error = None
    while True:
        if pending:
            # the first jobs' start times; jobctl's retention deletes old job hashes later in the run
            with target.conn.pipeline(transaction=False) as pipe:
                for job_id in pending:
                    pipe.hmget(Job.key_for(job_id), "started_at", "enqueued_at")
                rows = pipe.execute()
            own += len(pending)
            still = []
            for job_id, (started_at, enqueued_at) in zip(pending, rows):
                if started_at:
                    starts[job_id] = parse_ts(started_at)
                elif enqueued_at:  # not started yet (a vanished hash is given up on)
                    still.append(job_id)
            pending = still
        if all(w.poll() is not None for w in workers):
            break
        if time.perf_counter() - t0 > timeout:
            error = f"timed out after {timeout:g}s"
            break
        time.sleep(0.01 if pending else 0.005)
    wall = time.perf_counter() - t0
    after = command_calls(target.conn)
    for w in list(workers):
        if w.returncode == 2 and extra and "No such option" in target.log_tail(w.tag):
            error = error or NEEDS_POOL
        elif w.returncode not in (0, None):
            error = error or f"{w.tag} exited with {w.returncode}:\n{target.log_tail(w.tag)}"
        target.stop(w)
    with target.conn.pipeline(transaction=False) as pipe:
        for job_id in last:
            pipe.hmget(Job.key_for(job_id), "started_at", "ended_at")
        tail = pipe.execute()
    ends = [parse_ts(e) for _, e in tail if e]
    left = queue.count
    started_reg = StartedJobRegistry(queue.name, connection=target.conn).count
    failed = FailedJobRegistry(queue.name, connection=target.conn).count
    if not error and (left or started_reg or failed):
        error = f"unfinished: {left} queued, {started_reg} started, {failed} failed"
    worker_rate = None
    if starts and ends and len(ends) == len(last):
        span = (max(ends) - min(starts.values())).total_seconds()
        worker_rate = n / span if span > 0 else None
    if error == NEEDS_POOL:  # nothing ran: no numbers
        return {
            "jobs": n,
            "processes": procs,
            "wall_seconds": None,
            "wall_rate": None,
            "worker_rate": None,
            "cmds_per_job": None,
            "error": error,
        }
    return {
        "jobs": n,
        "processes": procs,
        "wall_seconds": wall,
        "wall_rate": n / wall,
        "worker_rate": worker_rate,
        "cmds_per_job": (after - before - own) / n,
        "error": error,
    }


def _wait_finished(target: Target, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with target.conn.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(Job.key_for(job_id), "status")
            statuses = pipe.execute()
        if all(s in (b"finished", b"failed") for s in statuses):
            return
        time.sleep(0.02)
    raise TimeoutError(f"{len(ids)} job(s) not finished within {timeout:g}s")


def measure_latency(target: Target, systems: Systems, kind: str, count: int, rate: float) -> dict:
    target.clean()
    worker = target.spawn(worker_command(target, kind, burst=False), f"latency-{kind}")
    try:
        try:  # a first job: the worker is up, registered and has imported the handler
            _wait_finished(target, [systems.one(kind)], 60)
        except TimeoutError:
            return {"error": f"worker did not start:\n{target.log_tail(f'latency-{kind}')}"}
        ids = []
        t0 = time.perf_counter()
        for i in range(count):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            ids.append(systems.one(kind))
        _wait_finished(target, ids, 30)
        with target.conn.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(Job.key_for(job_id), "enqueued_at", "started_at")
            rows = pipe.execute()
    finally:
        target.stop(worker)
    ms = sorted((parse_ts(s) - parse_ts(e)).total_seconds() * 1000 for e, s in rows)
    return {
        "jobs": count,
        "rate": rate,
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "max_ms": ms[-1],
        "error": None,
    }


def measure_peer_latency(peer, count: int, rate: float) -> dict:
    try:
        ms = sorted(peer.latency(count, rate))
    except (peers.PeerError, KeyError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}" if not isinstance(exc, peers.PeerError) else str(exc)}
    return {
        "jobs": count,
        "rate": rate,
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "max_ms": ms[-1],
        "error": None,
    }


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


# -- one whole run ----------------------------------------------------------------------------


def run_once(target: Target, systems: Systems, others: list, args: argparse.Namespace) -> dict:
    out: dict[str, dict] = {"enqueue": {}, "processing": {}, "latency": {}, "io": {}}
    for mode, n in (("bulk", args.enqueue_jobs), ("single", args.single_jobs)):
        for kind in ("jobctl", "jobctl-enc", "rq"):
            log(f"enqueue {mode:6} {kind:10} {n:,} jobs")
            out["enqueue"][f"{kind}-{mode}"] = measure_enqueue(target, systems, kind, mode, n)
        for peer in others:
            if mode == "single" or peer.has_bulk:
                log(f"enqueue {mode:6} {peer.key:10} {n:,} jobs")
                out["enqueue"][f"{peer.key}-{mode}"] = peer.enqueue(mode, n)
    for key, _label, kind, procs in PROCESSING:
        n = args.fork_jobs if kind == "rq-fork" else args.jobs
        log(f"process {key:12} {n:,} jobs")
        out["processing"][key] = measure_processing(target, systems, kind, procs, n, args.timeout)
    for peer in others:
        key = f"{peer.key}-1"
        log(f"process {key:12} {args.jobs:,} jobs")
        out["processing"][key] = peer.process(args.jobs, peer.threads, 0.0, args.timeout)
    for kind, _label in LATENCY:
        log(f"latency {kind:12} {args.latency_jobs} jobs at {args.latency_rate:g}/s")
        out["latency"][kind] = measure_latency(target, systems, kind, args.latency_jobs, args.latency_rate)
    for peer in others:
        log(f"latency {peer.key:12} {args.latency_jobs} jobs at {args.latency_rate:g}/s")
        out["latency"][peer.key] = measure_peer_latency(peer, args.latency_jobs, args.latency_rate)
    sleep, conc = args.io_sleep_ms / 1000, args.io_concurrency
    log(f"io      jobctl       {args.io_jobs:,} jobs of {args.io_sleep_ms:g} ms, {conc} threads")
    out["io"]["jobctl"] = measure_processing(  # jobctl's "sleep" job type: jobctl.jobs.noop.sleep
        target,
        systems,
        "jobctl",
        1,
        args.io_jobs,
        args.timeout,
        job_type="sleep",
        payload={"seconds": sleep},
        extra=("--concurrency", str(conc), "--pool", "thread"),
        tag="io-jobctl",
    )
    for peer in others:
        log(f"io      {peer.key:12} {args.io_jobs:,} jobs of {args.io_sleep_ms:g} ms, {conc} threads")
        out["io"][peer.key] = peer.process(args.io_jobs, conc, sleep, args.timeout)
    for section in ("processing", "io"):
        for key, row in out[section].items():
            if row.get("error"):
                log(f"  {section} {key}: {row['error']}")
    target.clean()
    return out


def median_of(runs: list[dict]) -> dict:
    """Per measurement, the median of each number over the runs (errors kept from any run)."""
    merged: dict[str, dict] = {}
    for section in runs[0]:
        merged[section] = {}
        for key in runs[0][section]:
            rows = [r[section][key] for r in runs]
            row = {}
            for name in rows[0]:
                values = [r.get(name) for r in rows]
                if name == "error":
                    row[name] = next((v for v in values if v), None)
                elif all(v == values[0] for v in values):
                    row[name] = values[0]
                elif all(isinstance(v, int | float) for v in values):
                    row[name] = statistics.median(values)
                else:
                    numbers = [v for v in values if isinstance(v, int | float)]
                    row[name] = statistics.median(numbers) if numbers else None
            merged[section][key] = row
    return merged


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(target: Target, others: list) -> dict:
    server = target.conn.info("server")
    persistence = target.conn.info("persistence")
    name = server.get("server_name") or "redis"
    version = server.get("valkey_version") or server.get("redis_version")
    versions = {}
    for peer in others:
        versions[peer.key] = peer.version
        if peer.key == "bullmq":
            versions["node"] = peer.node_version
    return {
        "host": platform.node(),
        "cpu": _cpu_model(),
        "nproc": os.cpu_count(),
        "load": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "rq": rq.__version__,
        "redis_py": redis.__version__,
        "jobctl": jobctl.__version__,
        "server": f"{name} {version}",
        "aof": bool(persistence.get("aof_enabled")),
        "target": "embedded (unix socket)" if target.embedded else target.url,
        "peers": versions,
    }


# -- output -----------------------------------------------------------------------------------


def _num(value, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(value, reference) -> str:
    return "-" if value is None or not reference else f"{value / reference:.2f}x"


def _sum(*values) -> float | None:
    return None if any(v is None for v in values) else sum(values)


# (label, 1-by-1 enqueue key, bulk enqueue key, processing key, latency key) of the summary table
SUMMARY = [
    ("jobctl", "jobctl-single", "jobctl-bulk", "jobctl-1", "jobctl"),
    ("jobctl, encrypted", "jobctl-enc-single", "jobctl-enc-bulk", "jobctl-enc-1", None),
    ("RQ SimpleWorker", "rq-single", "rq-bulk", "rq-simple-1", "rq-simple"),
    ("BullMQ (Node)", "bullmq-single", "bullmq-bulk", "bullmq-1", "bullmq"),
    ("huey, 1 thread", "huey-single", None, "huey-1", "huey"),
    ("dramatiq, 8 threads", "dramatiq-single", None, "dramatiq-1", "dramatiq"),
]
PEER_ENQUEUE = [
    ("bulk", "BullMQ Queue.addBulk (one call)", "bullmq-bulk"),
    ("one by one", "BullMQ Queue.add", "bullmq-single"),
    ("one by one", "huey task call (LPUSH)", "huey-single"),
    ("one by one", "dramatiq actor.send (one Lua call)", "dramatiq-single"),
]
PEER_PROCESSING = [
    ("bullmq-1", "BullMQ Worker, concurrency 1"),
    ("huey-1", "huey_consumer -w 1 -k thread"),
    ("dramatiq-1", "dramatiq --processes 1 --threads 8"),
]
PEER_LATENCY = [
    ("bullmq", "BullMQ Worker"),
    ("huey", "huey_consumer, 1 thread"),
    ("dramatiq", "dramatiq, 8 threads"),
]


def render(info: dict, result: dict, args: argparse.Namespace, elapsed: float, skipped: list[str]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(width=110, highlight=False)
    enq, proc, lat, io = result["enqueue"], result["processing"], result["latency"], result["io"]
    versions = info["peers"]
    console.print(f"[bold]jobctl bench[/] - machine {info['host']}: {info['cpu']}, {info['nproc']} CPUs")
    console.print(
        f"Python {info['python']}, rq {info['rq']}, redis-py {info['redis_py']}, jobctl {info['jobctl']}"
    )
    runs = f"median of {args.repeat} runs" if args.repeat > 1 else "1 run"
    console.print(
        f"server: {info['server']}, {info['target']}, AOF {'on' if info['aof'] else 'off'}; "
        f"key prefix {PREFIX}"
    )
    peer_names = {"bullmq": "BullMQ", "huey": "huey", "dramatiq": "dramatiq"}
    if versions:
        console.print(
            "peers: "
            + ", ".join(
                f"{peer_names[k]} {v}" + (f" (Node {versions['node']})" if k == "bullmq" else "")
                for k, v in versions.items()
                if k in peer_names
            )
        )
    load = " -> ".join(", ".join(f"{x:.1f}" for x in loads) for loads in (info["load"], os.getloadavg()))
    console.print(f"{runs}, {elapsed:.0f} s; load average (1, 5, 15 min) {load}", style="dim")
    console.print(
        "Numbers are from this run only, every system on this one server: compare rows within it,\n"
        "not with other runs or machines.",
        style="bold",
    )

    t = Table(
        title="jobctl and its peers: no-op jobs",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    for col in (
        "system",
        "1-by-1/s",
        "xBullMQ",
        "bulk/s",
        "xBullMQ",
        "process/s",
        "xBullMQ",
        "cmds/job",
        "p50 ms",
        "p95 ms",
    ):
        t.add_column(col, justify="left" if col == "system" else "right", no_wrap=True)
    ref = {
        "one": (enq.get("bullmq-single") or {}).get("rate"),
        "bulk": (enq.get("bullmq-bulk") or {}).get("rate"),
        "proc": (proc.get("bullmq-1") or {}).get("worker_rate"),
    }
    for label, one_key, bulk_key, proc_key, lat_key in SUMMARY:
        if one_key not in enq:
            continue
        one, bulk = enq[one_key], enq.get(bulk_key) or {}
        p, lt = proc.get(proc_key) or {}, lat.get(lat_key) or {}
        t.add_row(
            label + (" !" if p.get("error") or one.get("error") else ""),
            _num(one.get("rate")),
            _ratio(one.get("rate"), ref["one"]),
            _num(bulk.get("rate")) if bulk_key else "n/a",
            _ratio(bulk.get("rate"), ref["bulk"]),
            _num(p.get("worker_rate")),
            _ratio(p.get("worker_rate"), ref["proc"]),
            _num(_sum(one.get("cmds_per_job"), p.get("cmds_per_job")), 1),
            _num(lt.get("p50_ms"), 1),
            _num(lt.get("p95_ms"), 1),
        )
    console.print(t)

    ceiling = args.io_concurrency / (args.io_sleep_ms / 1000)
    t = Table(
        title=f"I/O-bound: {args.io_jobs:,} jobs that sleep {args.io_sleep_ms:g} ms, one worker "
        f"process, {args.io_concurrency} at once (ceiling {ceiling:,.0f} jobs/s)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for col in ("worker", "jobs/s", "xBullMQ", "wall s", "cmds/job"):
        t.add_column(col, justify="left" if col == "worker" else "right", no_wrap=True)
    io_rows = [
        ("jobctl", f"jobctl worker --burst --concurrency {args.io_concurrency} --pool thread"),
        ("bullmq", f"BullMQ Worker, concurrency {args.io_concurrency} (a timer)"),
        ("huey", f"huey_consumer -w {args.io_concurrency} -k thread"),
        ("dramatiq", f"dramatiq --processes 1 --threads {args.io_concurrency}"),
    ]
    io_ref = (io.get("bullmq") or {}).get("worker_rate")
    for key, label in io_rows:
        if key not in io:
            continue
        r = io[key]
        if r.get("error") == NEEDS_POOL:
            t.add_row(label, NEEDS_POOL, "-", "-", "-")
            continue
        t.add_row(
            label + (" !" if r.get("error") else ""),
            _num(r.get("worker_rate")),
            _ratio(r.get("worker_rate"), io_ref),
            _num(r.get("wall_seconds"), 1),
            _num(r.get("cmds_per_job"), 1),
        )
    console.print(t)

    t = Table(title="Enqueue", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col, justify in (
        ("mode", "left"),
        ("API", "left"),
        ("jobs", "right"),
        ("jobs/s", "right"),
        ("cmds/job", "right"),
    ):
        t.add_column(col, justify=justify)
    rows = [
        ("bulk", "jobctl enqueue_many (MULTI per 1000)", "jobctl-bulk"),
        ("bulk", "jobctl enqueue_many, encrypted", "jobctl-enc-bulk"),
        ("bulk", "RQ Queue.enqueue_many(prepare_data...)", "rq-bulk"),
        ("one by one", "jobctl enqueue", "jobctl-single"),
        ("one by one", "jobctl enqueue, encrypted", "jobctl-enc-single"),
        ("one by one", "RQ Queue.enqueue", "rq-single"),
    ]
    for mode, api, key in rows + PEER_ENQUEUE:
        if key not in enq:
            continue
        r = enq[key]
        t.add_row(
            mode,
            api + (" !" if r.get("error") else ""),
            f"{r['jobs']:,}",
            _num(r["rate"]),
            _num(r["cmds_per_job"], 1),
        )
    console.print(t)

    t = Table(
        title="No-op processing (worker processes started by the bench)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for col, justify in (
        ("worker", "left"),
        ("procs", "right"),
        ("jobs", "right"),
        ("wall jobs/s", "right"),
        ("worker jobs/s", "right"),
        ("cmds/job", "right"),
        ("wall s", "right"),
    ):
        t.add_column(col, justify=justify)
    shown = [(k, lb, n) for k, lb, _kind, n in PROCESSING] + [(k, lb, 1) for k, lb in PEER_PROCESSING]
    for key, label, procs in shown:
        if key not in proc:
            continue
        r = proc[key]
        flag = " !" if r["error"] else ""
        t.add_row(
            label + flag,
            str(procs),
            f"{r['jobs']:,}",
            _num(r["wall_rate"]),
            _num(r["worker_rate"]),
            _num(r["cmds_per_job"], 1),
            _num(r["wall_seconds"], 1),
        )
    console.print(t)

    t = Table(
        title=f"Start latency: idle worker, 1 job at a time, {args.latency_rate:g}/s",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for col, justify in (
        ("worker", "left"),
        ("jobs", "right"),
        ("p50 ms", "right"),
        ("p95 ms", "right"),
        ("max ms", "right"),
    ):
        t.add_column(col, justify=justify)
    for kind, label in LATENCY + PEER_LATENCY:
        if kind not in lat:
            continue
        r = lat[kind]
        if r.get("error"):
            t.add_row(label + " !", "-", "-", "-", "-")
        else:
            t.add_row(label, str(r["jobs"]), _num(r["p50_ms"], 1), _num(r["p95_ms"], 1), _num(r["max_ms"], 1))
    console.print(t)

    notes = [
        "First table: process/s = worker jobs/s below; cmds/job = one-by-one enqueue + processing; p50/p95 =",
        "  start latency below; xBullMQ = this rate / BullMQ's in this run.",
        "jobctl worker = jobctl worker start --burst (jobctl's scripted lifecycle on RQ's data model);",
        "  encrypted = the same with JOBCTL_ENCRYPTION_KEYS set (Fernet: AES-128-CBC + HMAC-SHA256);",
        "  -c 2 = --concurrency 2 (a supervisor forks 2); rq ... x2 = two `rq worker --burst` processes.",
        "wall jobs/s: jobs / (worker processes started -> last one exited): start-up and exit included;",
        "  huey and dramatiq have no burst mode: their wall ends when the last job is done.",
        "worker jobs/s: jobs / (first job's start -> last job's end): RQ's started_at/ended_at from the job",
        "  hashes; BullMQ: first processor call -> last 'completed' event, in the worker; huey and",
        "  dramatiq: time.time() at the start and end of the task function, noted in a local file.",
        "cmds/job: INFO commandstats delta / jobs, less the bench's own commands. Counts every client",
        "  of the server (approximate on a shared one), worker start-up and housekeeping, and each",
        "  command a Lua script runs (BullMQ, dramatiq and RQ's scripts) as well as the EVALSHA itself.",
        f"rq Worker forks a work horse per job, so it gets {args.fork_jobs:,} jobs (--fork-jobs) only.",
        "latency: job start - enqueue call: RQ's started_at - enqueued_at; the others: time at the start",
        "  of the job function - time.time()/performance clock just before the enqueue call; nearest rank.",
        f"  A worker slower than {args.latency_rate:g} jobs/s falls behind: its latency then grows with the",
        "  backlog (it measures the queue, not the pick-up).",
        "Every system runs with its defaults: logging (huey logs each task at INFO) and retention (BullMQ",
        "  keeps completed jobs, jobctl by its queue policy, RQ for 500 s).",
    ]
    notes += [f"! {line}" for line in skipped]
    for section, rows_ in (("processing", proc), ("io", io), ("latency", lat), ("enqueue", enq)):
        for key, r in rows_.items():
            if r.get("error") and r.get("error") != NEEDS_POOL:
                notes.append(f"! {section} {key}: {r['error']}")
    for note in notes:
        console.print(note, style="dim", soft_wrap=False)


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=3000, help="no-op jobs per processing run (default 3000)")
    p.add_argument(
        "--fork-jobs",
        type=int,
        default=500,
        help="jobs per run for the forking rq.Worker, ~40 jobs/s (default 500)",
    )
    p.add_argument(
        "--enqueue-jobs", type=int, default=10000, help="jobs per bulk enqueue run (default 10000)"
    )
    p.add_argument(
        "--single-jobs", type=int, default=10000, help="jobs per one-by-one enqueue run (default 10000)"
    )
    p.add_argument("--latency-jobs", type=int, default=200, help="jobs per latency run (default 200)")
    p.add_argument(
        "--latency-rate", type=float, default=200.0, help="jobs/s in the latency run (default 200)"
    )
    p.add_argument("--io-jobs", type=int, default=1000, help="jobs in the I/O-bound run (default 1000)")
    p.add_argument("--io-sleep-ms", type=float, default=20.0, help="sleep per I/O-bound job, ms (default 20)")
    p.add_argument(
        "--io-concurrency",
        type=int,
        default=32,
        help="jobs at once in the I/O-bound run, threads in one process (default 32)",
    )
    p.add_argument(
        "--peers",
        default="bullmq,huey,dramatiq",
        help="peers to run next to jobctl and RQ, comma-separated, or none (default: all three)",
    )
    p.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL") or None,
        help="server to use (default: REDIS_URL, else jobctl's embedded server in a temp home)",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs; the table shows medians (default 1)")
    p.add_argument("--timeout", type=float, default=300, help="seconds before a processing run is abandoned")
    p.add_argument("--json", action="store_true", help="print raw numbers as JSON instead of the table")
    args = p.parse_args(argv)
    for name in (
        "jobs",
        "fork_jobs",
        "enqueue_jobs",
        "single_jobs",
        "latency_jobs",
        "repeat",
        "io_jobs",
        "io_concurrency",
    ):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.latency_rate <= 0 or args.io_sleep_ms <= 0:
        p.error("--latency-rate and --io-sleep-ms must be more than zero")
    if args.jobs < 2 * EDGE or args.fork_jobs < 2 * EDGE:
        p.error(f"--jobs and --fork-jobs must be at least {2 * EDGE}")
    known = ("bullmq", "huey", "dramatiq")
    names = [x.strip() for x in args.peers.split(",") if x.strip()]
    args.peers = [] if names == ["none"] else names
    if unknown := [x for x in args.peers if x not in known]:
        p.error(f"--peers: unknown {', '.join(unknown)}; pick from {', '.join(known)} or none")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    home = Path(tempfile.mkdtemp(prefix="jobctl-bench-"))
    target = None
    try:
        if args.redis_url:
            url, is_embedded = args.redis_url, False
        else:
            log(f"starting the embedded server in {home}")
            url, is_embedded = f"unix://{embedded.ensure_running(home)}", True
        target = Target(url, home, is_embedded)
        target.conn.ping()
        others, skipped = peers.start(target, PREFIX, args.peers)
        info = machine_info(target, others)
        log(f"{info['server']} at {info['target']}, key prefix {PREFIX}")
        systems = Systems(target)
        runs = []
        for i in range(args.repeat):
            if args.repeat > 1:
                log(f"run {i + 1} of {args.repeat}")
            runs.append(run_once(target, systems, others, args))
        result = median_of(runs)
        elapsed = time.perf_counter() - began
        if args.json:
            print(
                json.dumps(
                    {
                        "machine": info,
                        "prefix": PREFIX,
                        "args": vars(args),
                        "seconds": elapsed,
                        "skipped": skipped,
                        "median": result,
                        "runs": runs,
                    },
                    indent=2,
                )
            )
        else:
            render(info, result, args, elapsed, skipped)
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if target is not None:
            for proc in list(target.started):
                target.stop(proc, timeout=2)
            try:
                target.clean()
            except redis.RedisError as exc:
                log(f"could not delete this run's keys ({PREFIX}...): {exc}")
        if not args.redis_url:
            try:
                embedded.stop(home)
            except Exception as exc:  # noqa: BLE001 - report, still remove the temp home
                log(f"could not stop the embedded server: {exc}")
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
