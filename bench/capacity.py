#!/usr/bin/env python3
"""The capacity model, measured (issue 20): what one Redis carries before queues should be split.

    python3 dev.py bench capacity                     # about 4.5 minutes on 2 cores
    python3 dev.py bench capacity --drain-jobs 20000 --waiting 200000 --dead 20000   # a quicker look
    python3 dev.py bench capacity --server-binary /usr/bin/redis-server --json

A private Redis started for the run (by default the server binary jobctl's embedded server uses, on
a free loopback TCP port, `appendonly yes`, `appendfsync everysec`, no RDB snapshots: the durability
a production server runs with), in a temporary directory that is removed at the end. Measured:

- jobs/s with 1, 2, 4 and 8 worker processes (`jobctl worker start --queue Q --burst
  --concurrency N`, as `bench/run.py` starts them) draining a pre-filled backlog of no-op jobs, and
  the Redis CPU each job costs (`INFO cpu` used_cpu_user + used_cpu_sys of the server, before and
  after the drain, divided by the jobs), with the commands per job (`INFO commandstats`);
- the Redis CPU of enqueueing, one by one (`enqueue`) and in bulk (`enqueue_many`);
- memory per waiting job (`INFO memory` used_memory before and after `enqueue_many` of --waiting
  jobs) and per dead letter (--dead jobs of the `fail` type, which fails for good, dead-lettered by
  two real workers; the figure is extrapolated linearly to 1M);
- from those, the ceiling of one Redis (one core: the server runs commands on one thread) and the
  memory of a given backlog. Numbers are printed, never asserted.
"""

from __future__ import annotations

import os
import secrets
import sys

# RQ reads RQ_KEY_PREFIX once, at import. Run as a script, the bench takes a prefix of its own;
# imported by a test, it keeps the test's (rq is already imported then).
if "rq" not in sys.modules:
    os.environ["RQ_KEY_PREFIX"] = f"capacity-{secrets.token_hex(4)}"

import argparse
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
import rq
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result

from jobctl.config import Settings, load_settings
from jobctl.core import embedded, keyspace, runtime
from jobctl.core.bulk import enqueue, enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.lifecycle import PhysicalQueue

QUEUE = "email-sending"  # where jobctl's "noop" job type goes
BATCH = 10_000  # jobs per enqueue_many call when filling (it pipelines them in its own batches)
PROCESSES = (1, 2, 4, 8)
ONE_MILLION = 1_000_000


def log(message: str) -> None:
    print(f"capacity: {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def prefix() -> str:
    return rq.defaults.RQ_KEY_PREFIX


# -- the private server -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PrivateServer:
    """A Redis of our own on a free loopback port, persisted as production runs it (AOF, fsync every s)."""

    directory: Path
    binary: str = field(default_factory=embedded.server_binary)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> redis.Redis:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / "server.log", "ab") as logfile:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(self.directory),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "everysec",
                    "--save",
                    "",
                ],
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=2)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}; see its server.log")
            try:
                client.ping()
                return client
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


# -- what the measurements share --------------------------------------------------------------


@dataclass
class Setup:
    """The connection, settings and environment every measurement uses."""

    conn: redis.Redis
    url: str
    home: Path

    def __post_init__(self) -> None:
        self.settings: Settings = load_settings(
            flags={"redis_url": self.url, "home": str(self.home)}, environ=self.env(), cwd=self.home
        )
        runtime.install(self.settings, self.conn)
        self.queue = rq_queue(self.conn, queue_catalog(self.settings)[QUEUE].physical())

    def env(self) -> dict[str, str]:
        """The workers' environment: defaults only (no stray JOBCTL_*/RQ_*), our prefix and server."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("JOBCTL_", "RQ_")) and k not in ("REDIS_URL", "REDIS_PASSWORD")
        }
        return {
            **env,
            "RQ_KEY_PREFIX": prefix(),
            "JOBCTL_HOME": str(self.home),
            "REDIS_URL": self.url,
            "JOBCTL_TEST_JOB_TYPES": "1",  # the dead letters are made by `fail` jobs, a test-only type
        }

    def fill(self, jobs: int) -> list[str]:
        ids: list[str] = []
        for start in range(0, jobs, BATCH):
            count = min(BATCH, jobs - start)
            ids += enqueue_many(self.conn, self.settings, "noop", ({} for _ in range(count)), queue=QUEUE)
        return ids


def server_cpu(conn: redis.Redis) -> float:
    """CPU seconds the server process has used so far (user + system, all its threads)."""
    info = conn.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def used_memory(conn: redis.Redis) -> int:
    return int(conn.info("memory")["used_memory"])


def command_calls(conn: redis.Redis) -> int:
    return sum(int(v.get("calls", 0)) for v in conn.info("commandstats").values() if isinstance(v, dict))


def delete_keys(conn: redis.Redis) -> int:
    """Delete every key under this run's prefix, and nothing else."""
    removed, batch = 0, []
    for key in conn.scan_iter(match=f"{prefix()}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            removed += conn.unlink(*batch)
            batch.clear()
    if batch:
        removed += conn.unlink(*batch)
    return removed


# -- the measurements -------------------------------------------------------------------------


def run_workers(setup: Setup, processes: int, jobs: int, tag: str, timeout: float = 300) -> dict:
    """Start `processes` burst workers on the pre-filled queue and wait until they have drained it.

    `first` is when the queue first holds fewer than `jobs`, `drained` when the queue and its wip
    registry (the jobs claimed, running or waiting for their outcome to be recorded) are both
    empty: the drain without worker start-up and shutdown. Polled every 5 ms with two O(1) reads."""
    wip = PhysicalQueue.of(setup.queue.name).wip
    args = [sys.executable, "-m", "jobctl", "worker", "start", "--queue", QUEUE, "--burst"]
    if processes > 1:
        args += ["--concurrency", str(processes)]  # one process per job slot (the default pool)
    logpath = setup.home / f"worker-{tag}-{processes}.log"
    t0 = time.perf_counter()
    with open(logpath, "ab") as logfile:
        worker = subprocess.Popen(
            args,
            env=setup.env(),
            cwd=setup.home,
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    first = drained = None
    try:
        while drained is None:
            now = time.perf_counter()
            if now - t0 > timeout:
                raise TimeoutError(
                    f"{processes} worker process(es) did not drain {jobs:,} jobs in {timeout:g}s"
                )
            with setup.conn.pipeline(transaction=False) as pipe:
                waiting, claimed = pipe.llen(setup.queue.key).zcard(wip).execute()
            if first is None and waiting < jobs:
                first = now
            if waiting == 0 and claimed == 0:
                drained = now
            elif worker.poll() is not None:
                break
            time.sleep(0.005)
        worker.wait(timeout)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(5)
    wall = time.perf_counter() - t0
    if worker.returncode != 0 or first is None or drained is None:
        tail = "\n".join(logpath.read_text(errors="replace").splitlines()[-10:])
        raise RuntimeError(f"worker exited {worker.returncode} before draining the queue:\n{tail}")
    return {"wall_seconds": wall, "drain_seconds": drained - first}


def measure_drain(setup: Setup, processes: int, jobs: int, timeout: float = 300) -> dict:
    """Pre-fill `jobs` no-op jobs, drain them with `processes` burst workers; Redis CPU per job.

    The server's CPU and commands are read just before the launch and after the last exit, so they
    include the workers' start-up and shutdown and the polling of run_workers (two O(1) reads every
    5 ms: about 0.1 command per job at 3,000 jobs/s)."""
    delete_keys(setup.conn)
    setup.fill(jobs)
    cpu0, calls0 = server_cpu(setup.conn), command_calls(setup.conn)
    times = run_workers(setup, processes, jobs, "drain", timeout)
    cpu = server_cpu(setup.conn) - cpu0
    calls = command_calls(setup.conn) - calls0
    failed = FailedJobRegistry(setup.queue.name, connection=setup.conn).count
    assert not failed, f"{failed} no-op job(s) failed"
    span, wall = times["drain_seconds"], times["wall_seconds"]
    delete_keys(setup.conn)
    return {
        "processes": processes,
        "jobs": jobs,
        "wall_seconds": wall,
        "wall_rate": jobs / wall,
        "drain_seconds": span,
        "drain_rate": jobs / span if span > 0 else None,
        "redis_cpu_seconds": cpu,
        "redis_cpu_us_per_job": cpu / jobs * 1e6,
        "redis_cpu_share": cpu / span if span > 0 else None,  # of one core, over the drain
        "commands_per_job": calls / jobs,
    }


def measure_enqueue(setup: Setup, jobs: int, mode: str) -> dict:
    """Redis CPU and commands per job of enqueueing no-op jobs one by one (`enqueue`) or in bulk."""
    delete_keys(setup.conn)
    cpu0, calls0 = server_cpu(setup.conn), command_calls(setup.conn)
    t0 = time.perf_counter()
    if mode == "single":
        for _ in range(jobs):
            enqueue(setup.conn, setup.settings, "noop", {})
    else:
        setup.fill(jobs)
    elapsed = time.perf_counter() - t0
    cpu = server_cpu(setup.conn) - cpu0
    calls = command_calls(setup.conn) - calls0
    delete_keys(setup.conn)
    return {
        "mode": mode,
        "jobs": jobs,
        "seconds": elapsed,
        "rate": jobs / elapsed,
        "redis_cpu_us_per_job": cpu / jobs * 1e6,
        "commands_per_job": calls / jobs,
    }


def measure_waiting_memory(setup: Setup, jobs: int) -> dict:
    """used_memory per waiting no-op job: before and after enqueue_many of `jobs`."""
    delete_keys(setup.conn)
    before = used_memory(setup.conn)
    t0 = time.perf_counter()
    setup.fill(jobs)
    elapsed = time.perf_counter() - t0
    after = used_memory(setup.conn)
    assert setup.queue.count == jobs, "not every job landed"
    delete_keys(setup.conn)
    return {
        "jobs": jobs,
        "seconds": elapsed,
        "bytes": after - before,
        "bytes_per_job": (after - before) / jobs,
    }


def measure_dead_memory(setup: Setup, jobs: int, processes: int = 2, timeout: float = 600) -> dict:
    """used_memory per dead letter, made by real workers: `jobs` of the "fail" type (non-retryable).

    Before: the server without them; after: every one dead-lettered by the worker's own finish
    script. What stays is the entry document, its index members and group count, and the RQ job
    hash (kept for good), plus the workers' counters and metrics (a few keys, not per job)."""
    delete_keys(setup.conn)
    before = used_memory(setup.conn)
    t0 = time.perf_counter()
    for start in range(0, jobs, BATCH):
        count = min(BATCH, jobs - start)
        enqueue_many(setup.conn, setup.settings, "fail", ({} for _ in range(count)), queue=QUEUE)
    times = run_workers(setup, processes, jobs, "dead", timeout)
    elapsed = time.perf_counter() - t0
    after = used_memory(setup.conn)
    entries = setup.conn.zcard(keyspace.dlq_index())
    assert entries == jobs, f"{entries} dead letters, expected {jobs}"
    parts = dead_letter_parts(
        setup.conn, [m.decode() for m in setup.conn.zrange(keyspace.dlq_index(), 0, 99)]
    )
    delete_keys(setup.conn)
    return {
        "jobs": jobs,
        "seconds": elapsed,
        "drain_seconds": times["drain_seconds"],
        "bytes": after - before,
        "bytes_per_entry": (after - before) / jobs,
        **parts,
    }


def dead_letter_parts(conn: redis.Redis, job_ids: list[str]) -> dict:
    """Mean MEMORY USAGE of what each sampled dead letter keeps, by key, and its entry document's length."""
    keys = {
        "entry_key_bytes": keyspace.dlq_entry,
        "job_hash_bytes": Job.key_for,
        "result_stream_bytes": Result.get_key,  # RQ's result (the failure, with its traceback)
    }
    out: dict = {}
    with conn.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.strlen(keyspace.dlq_entry(job_id))
            for key_of in keys.values():
                pipe.memory_usage(key_of(job_id), samples=0)
        rows = pipe.execute()
    width = 1 + len(keys)
    out["entry_document_bytes"] = sum(rows[0::width]) / len(job_ids)
    for i, name in enumerate(keys, start=1):
        out[name] = sum(r or 0 for r in rows[i::width]) / len(job_ids)
    return out


def model(drain: list[dict], enqueue_rows: list[dict], waiting: dict, dead: dict) -> dict:
    """The ceiling of one Redis from the measured CPU per job, and the memory of backlogs."""
    one = next(r for r in drain if r["processes"] == 1)
    process_us = one["redis_cpu_us_per_job"]
    lowest = min(r["redis_cpu_us_per_job"] for r in drain)
    by_mode = {r["mode"]: r["redis_cpu_us_per_job"] for r in enqueue_rows}
    single, bulk = by_mode.get("single"), by_mode.get("bulk")
    out = {
        "process_us_per_job": process_us,
        "process_us_per_job_lowest": lowest,
        "ceiling_single_enqueue": 1e6 / (single + process_us) if single else None,
        "ceiling_bulk_enqueue": 1e6 / (bulk + process_us) if bulk else None,
        "waiting_bytes_per_job": waiting["bytes_per_job"],
        "dead_bytes_per_entry": dead["bytes_per_entry"],
    }
    out["waiting_1m_mib"] = waiting["bytes_per_job"] * ONE_MILLION / 2**20
    out["dead_1m_mib"] = dead["bytes_per_entry"] * ONE_MILLION / 2**20
    return out


# -- output -----------------------------------------------------------------------------------


def _f(value, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render(result: dict) -> None:
    m = result["machine"]
    print(f"\nCapacity of one Redis: {m['server']} on 127.0.0.1 (TCP), appendonly yes, appendfsync everysec")
    print(f"machine: {m['cpu']}, {m['nproc']} cores; /proc/loadavg at start: {m['load_start']}")
    print(f"{'at end:':>60} {m['load_end']}")
    print(f"jobctl {m['jobctl']}, rq {m['rq']}, redis-py {m['redis_py']}, Python {m['python']}")
    cores = m["nproc"]
    print(
        "\n1. Draining a backlog of no-op jobs: jobctl worker start --burst --concurrency N (N processes).\n"
        f"   This machine has {cores} cores for the workers, Redis and the bench (and whatever else runs:\n"
        f"   see the load). Beyond {max(cores - 1, 1)} worker process(es) they compete for the CPU; 4 and 8 "
        "oversubscribe it, so\n"
        f"   those rates are what {cores} cores give, not what one Redis could carry. Redis CPU = the "
        "server's\n   user+sys CPU over the run / jobs; share = Redis CPU seconds / drain seconds "
        "(1.00 = one core busy)."
    )
    print(
        f"{'processes':>9} {'jobs':>8} {'drain jobs/s':>13} {'wall jobs/s':>12} "
        f"{'Redis CPU us/job':>17} {'Redis share':>12} {'cmds/job':>9}"
    )
    for r in result["drain"]:
        print(
            f"{r['processes']:>9} {r['jobs']:>8,} {_f(r['drain_rate']):>13} {_f(r['wall_rate']):>12} "
            f"{_f(r['redis_cpu_us_per_job'], 1):>17} {_f(r['redis_cpu_share'], 2):>12} "
            f"{_f(r['commands_per_job'], 1):>9}"
        )
    print("\n2. Enqueueing no-op jobs (Redis CPU per job; the producer's own CPU is not in it)")
    print(f"{'mode':<26} {'jobs':>8} {'jobs/s':>9} {'Redis CPU us/job':>17} {'cmds/job':>9}")
    for r in result["enqueue"]:
        label = "enqueue, one by one" if r["mode"] == "single" else "enqueue_many (bulk)"
        print(
            f"{label:<26} {r['jobs']:>8,} {_f(r['rate']):>9} {_f(r['redis_cpu_us_per_job'], 1):>17} "
            f"{_f(r['commands_per_job'], 1):>9}"
        )
    w, d, mo = result["waiting"], result["dead"], result["model"]
    print("\n3. Memory (INFO memory used_memory, after - before)")
    print(f"{'what':<46} {'count':>10} {'bytes each':>11} {'per 1M':>10}")
    print(
        f"{'waiting no-op job (enqueue_many)':<46} {w['jobs']:>10,} {_f(w['bytes_per_job']):>11} "
        f"{_f(mo['waiting_1m_mib']):>6} MiB"
    )
    label = "dead letter (made by workers, fail job type)"
    print(f"{label:<46} {d['jobs']:>10,} {_f(d['bytes_per_entry']):>11} {_f(mo['dead_1m_mib']):>6} MiB")
    print(
        f"   a dead letter keeps, on average: its entry {_f(d['entry_key_bytes'])} B (document "
        f"{_f(d['entry_document_bytes'])} B), the RQ job hash {_f(d['job_hash_bytes'])} B,\n"
        f"   RQ's result stream {_f(d['result_stream_bytes'])} B (the failure and its traceback); "
        "the rest is its index members\n   and group ids (MEMORY USAGE of 100 entries)"
    )
    for what, row in (("waiting jobs", w), ("dead letters", d)):
        if row["jobs"] != ONE_MILLION:
            print(f"   ({what}: {row['jobs']:,} made; the 1M figure is extrapolated linearly)")
    ten_million = w["bytes_per_job"] * 10 * ONE_MILLION / 2**30
    print(
        "\n4. The model. Redis runs commands on one thread, so one core is its ceiling:\n"
        "   jobs/s at 100% of one core = 1 / (Redis CPU to enqueue + to process one job; processing: "
        f"{_f(mo['process_us_per_job'], 1)} us\n   with 1 worker, {_f(mo['process_us_per_job_lowest'], 1)} "
        "us the lowest row)"
    )
    print(f"   producers enqueue one by one:  {_f(mo['ceiling_single_enqueue'])} jobs/s")
    print(f"   producers enqueue in bulk:     {_f(mo['ceiling_bulk_enqueue'])} jobs/s")
    print(
        f"   memory: {_f(w['bytes_per_job'])} B per waiting job ({ten_million:.1f} GiB for 10M), "
        f"{_f(d['bytes_per_entry'])} B per dead letter"
    )
    print(f"\nbench time {result['seconds']:.0f} s, key prefix {result['prefix']} (deleted), server stopped")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/capacity.py", description=__doc__.splitlines()[0])
    parser.add_argument("--drain-jobs", type=int, default=50_000, help="backlog each worker row drains")
    parser.add_argument("--processes", default="1,2,4,8", help="worker process counts, comma-separated")
    parser.add_argument("--single-jobs", type=int, default=5_000, help="jobs enqueued one by one")
    parser.add_argument("--bulk-jobs", type=int, default=100_000, help="jobs enqueued with enqueue_many")
    parser.add_argument("--waiting", type=int, default=ONE_MILLION, help="waiting jobs for the memory figure")
    parser.add_argument("--dead", type=int, default=100_000, help="dead letters for the memory figure")
    parser.add_argument(
        "--server-binary",
        default=None,
        help="redis-server or valkey-server to start (default: the one jobctl's embedded server uses)",
    )
    parser.add_argument("--json", action="store_true", help="raw numbers instead of the tables")
    return parser.parse_args(argv)


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return "unknown CPU"


def run(setup: Setup, args: argparse.Namespace) -> dict:
    """Every measurement, in order; the caller owns the server."""
    import platform  # lazy: only the whole run reports the machine

    import jobctl  # lazy: its version, for the report

    info = setup.conn.info("server")
    version = info.get("valkey_version") or info["redis_version"]
    result: dict = {
        "machine": {
            "server": f"{info.get('server_name') or 'redis'} {version}",
            "cpu": _cpu_model(),
            "nproc": os.cpu_count(),
            "load_start": _loadavg(),
            "python": platform.python_version(),
            "jobctl": jobctl.__version__,
            "rq": rq.__version__,
            "redis_py": redis.__version__,
        },
        "prefix": prefix(),
        "drain": [],
        "enqueue": [],
    }
    for processes in [int(p) for p in args.processes.split(",")]:
        log(f"drain {args.drain_jobs:,} jobs with {processes} worker process(es)")
        result["drain"].append(measure_drain(setup, processes, args.drain_jobs))
    for mode, jobs in (("single", args.single_jobs), ("bulk", args.bulk_jobs)):
        log(f"enqueue {jobs:,} jobs ({mode})")
        result["enqueue"].append(measure_enqueue(setup, jobs, mode))
    log(f"memory of {args.waiting:,} waiting jobs")
    result["waiting"] = measure_waiting_memory(setup, args.waiting)
    log(f"memory of {args.dead:,} dead letters")
    result["dead"] = measure_dead_memory(setup, args.dead)
    result["model"] = model(result["drain"], result["enqueue"], result["waiting"], result["dead"])
    result["machine"]["load_end"] = _loadavg()
    return result


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="jobctl-capacity-"))
    server = PrivateServer(scratch / "redis", binary=args.server_binary or embedded.server_binary())
    conn = None
    try:
        conn = server.start()
        log(f"private server on port {server.port}, data in {scratch}, key prefix {prefix()}")
        home = scratch / "home"
        home.mkdir()
        result = run(Setup(conn, server.url, home), args)
        result["seconds"] = time.perf_counter() - began
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            render(result)
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if conn is not None:
            try:
                delete_keys(conn)
            except redis.RedisError as exc:
                log(f"could not delete this run's keys ({prefix()}:*): {exc}")
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
