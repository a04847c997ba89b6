"""The peers jobctl is compared with in `python3 dev.py bench`: BullMQ (Node), huey and dramatiq.

Each one runs on the bench's own Redis under a name derived from the bench's key prefix, so the
bench's cleanup (SCAN + UNLINK of those names only) removes their keys too:

- BullMQ: key prefix `<prefix>-bull` (keys `<prefix>-bull:bench:*`), scripts in bench/node/.
- huey: RedisHuey named `<prefix>_huey` (keys `huey.<kind>.<prefix>_huey`), app in peer_huey.py.
- dramatiq: RedisBroker namespace `<prefix>-dramatiq`, app in peer_dramatiq.py.

A peer that cannot be set up (no node/npm, an install that fails) is skipped with one line saying
why; the bench never fails because of a peer. Every measurement returns the same keys as jobctl's,
with `error` set when it did not work.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
NODE_DIR = BENCH / "node"
EDGE = 20  # the same as run.py: jobs at each end of a run whose times give the worker-side rate
PY_PEERS = ("huey", "dramatiq")


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class PeerError(Exception):
    pass


def processing_row(
    n: int, wall: float | None, worker_rate: float | None, cmds: float | None, error: str | None
) -> dict:
    return {
        "jobs": n,
        "processes": 1,
        "wall_seconds": wall,
        "wall_rate": n / wall if wall else None,
        "worker_rate": worker_rate,
        "cmds_per_job": cmds,
        "error": error,
    }


# -- BullMQ ------------------------------------------------------------------------------------


class BullMQ:
    key = "bullmq"
    label = "BullMQ (Node)"
    has_bulk = True
    threads = 1  # worker concurrency in the no-op run and the latency run
    queue = "bench"

    def __init__(self, target, prefix: str):
        self.target = target
        self.prefix = f"{prefix}-bull"
        self.node = shutil.which("node")
        manifest = NODE_DIR / "node_modules" / "bullmq" / "package.json"
        self.version = json.loads(manifest.read_text())["version"]
        self.node_version = subprocess.run(
            [self.node, "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()

    @staticmethod
    def prepare() -> str | None:
        """None when BullMQ can run, else why not. Installs bench/node/node_modules when missing."""
        node, npm = shutil.which("node"), shutil.which("npm")
        if not node:
            return "node not found on PATH"
        wanted = [NODE_DIR / "node_modules" / name / "package.json" for name in ("bullmq", "ioredis")]
        if all(p.exists() for p in wanted):
            return None
        if not npm:
            return "bench/node/node_modules is missing and npm is not on PATH"
        log("installing bullmq into bench/node/node_modules (npm ci, first run only)")
        last = ""
        for command in ([npm, "ci", "--no-audit", "--no-fund"], [npm, "install", "--no-audit", "--no-fund"]):
            try:
                done = subprocess.run(command, cwd=NODE_DIR, capture_output=True, text=True, timeout=600)
            except (OSError, subprocess.TimeoutExpired) as exc:
                last = str(exc)
                continue
            if done.returncode == 0 and all(p.exists() for p in wanted):
                return None
            lines = [
                x.strip()
                for x in (done.stderr or done.stdout).splitlines()
                if x.strip() not in ("", "npm error")
            ]
            last = lines[0] if lines else f"exit status {done.returncode}"
        return f"npm ci / npm install failed in bench/node ({last})"

    def _node(self, script: str, *extra, timeout: float = 120) -> dict:
        """Run a bench/node script to the end; its last JSON line on stdout is the result."""
        tag = f"bullmq-{script.split('.')[0]}"
        args = [
            self.node,
            str(NODE_DIR / script),
            "--url",
            self.target.url,
            "--prefix",
            self.prefix,
            "--queue",
            self.queue,
            *map(str, extra),
        ]
        proc = self.target.spawn(args, tag)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise PeerError(f"{script} timed out after {timeout:g}s") from None
        finally:
            self.target.stop(proc)
        output = self.target.log_tail(tag, 40)
        if proc.returncode:
            raise PeerError(f"{script} exited with {proc.returncode}:\n{_tail(output)}")
        lines = [line for line in output.splitlines() if line.startswith("{")]
        if not lines:
            raise PeerError(f"{script} printed no result:\n{_tail(output)}")
        return json.loads(lines[-1])

    def waiting(self) -> int:
        return self.target.conn.llen(f"{self.prefix}:{self.queue}:wait")

    def enqueue(self, mode: str, n: int) -> dict:
        self.target.clean()
        before = self.target.calls()
        try:
            result = self._node("enqueue.mjs", "--mode", mode, "--jobs", n)
        except PeerError as exc:
            return {"jobs": n, "seconds": None, "rate": None, "cmds_per_job": None, "error": str(exc)}
        commands = self.target.calls() - before - 1  # the first INFO counts itself
        waiting = self.waiting()
        error = None if waiting == n else f"{waiting} of {n} jobs waiting after the run"
        return {
            "jobs": n,
            "seconds": result["seconds"],
            "rate": result["rate"],
            "cmds_per_job": commands / n,
            "error": error,
        }

    def process(self, n: int, concurrency: int, sleep: float, timeout: float) -> dict:
        """One worker process; the rate is from the first job's start to the last job's completion."""
        self.target.clean()
        try:
            self._node("enqueue.mjs", "--mode", "bulk", "--jobs", n)
            before = self.target.calls()
            t0 = time.perf_counter()
            result = self._node(
                "worker.mjs",
                "--jobs",
                n,
                "--concurrency",
                concurrency,
                "--sleep-ms",
                round(sleep * 1000),
                timeout=timeout,
            )
            wall = time.perf_counter() - t0
            commands = self.target.calls() - before - 1
        except PeerError as exc:
            return processing_row(n, None, None, None, str(exc))
        left = self.waiting()
        error = None
        if left or result.get("failed"):
            error = f"unfinished: {left} waiting, {result.get('failed')} failed"
        return processing_row(n, wall, result["rate"], commands / n, error)

    def latency(self, count: int, rate: float) -> list[float]:
        self.target.clean()
        result = self._node("latency.mjs", "--jobs", count, "--rate", rate, timeout=60 + count / rate)
        return result["latencies_ms"]


# -- huey and dramatiq ---------------------------------------------------------------------------


def prepare_python_peers() -> str | None:
    """None when huey and dramatiq import, else why not. pip-installs the missing ones into this venv
    (not into pyproject.toml: the venv's install stamp stays as it is)."""
    missing = [name for name in PY_PEERS if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    import redis  # pinned, so the install cannot move the redis-py that jobctl and RQ use here

    log(f"installing {' and '.join(missing)} into {sys.prefix} (pip, first run only)")
    try:
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *missing,
            f"redis=={redis.__version__}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pip install {' '.join(missing)} failed: {exc}"
    importlib.invalidate_caches()
    if done.returncode or any(importlib.util.find_spec(name) is None for name in missing):
        return f"pip install {' '.join(missing)} failed: {_tail(done.stderr or done.stdout, 3)}"
    return None


def _console_script(name: str, module: str) -> list[str]:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", module]


class PythonPeer:
    """What huey and dramatiq have in common here: a module-level app (peer_<name>.py), a task that
    notes times in a file, a worker started as a separate process that runs until it is stopped."""

    key = ""
    label = ""
    has_bulk = False
    threads = 1  # worker threads in the 1-process no-op run

    def __init__(self, target, prefix: str):
        self.target = target
        os.environ["BENCH_REDIS_URL"] = target.url
        self.configure(prefix)
        self.app = importlib.import_module(f"peer_{self.key}")
        self.version = importlib.metadata.version(self.key)

    def configure(self, prefix: str) -> None:
        raise NotImplementedError

    def send(self, i: int, n: int, enqueued: float, sleep: float) -> None:
        raise NotImplementedError

    def pending(self) -> int:
        """Jobs not finished yet, as Redis sees them (one command)."""
        raise NotImplementedError

    def command(self, threads: int) -> list[str]:
        raise NotImplementedError

    def _spawn(self, threads: int, tag: str) -> tuple[object, Path]:
        record = self.target.home / f"{tag}-{uuid.uuid4().hex[:8]}.times"
        env = {"BENCH_RECORD": str(record), "PYTHONPATH": str(BENCH)}
        return self.target.spawn(self.command(threads), tag, extra_env=env), record

    @staticmethod
    def _records(path: Path) -> dict[int, tuple[float, float, float]]:
        try:
            text = path.read_text()
        except FileNotFoundError:
            return {}
        rows = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 4:  # a line being written is skipped until it is whole
                rows[int(parts[0])] = (float(parts[1]), float(parts[2]), float(parts[3]))
        return rows

    def enqueue(self, mode: str, n: int) -> dict:
        self.target.clean()
        before = self.target.calls()
        started = time.perf_counter()
        for i in range(n):
            self.send(i, n, 0.0, 0.0)
        elapsed = time.perf_counter() - started
        commands = self.target.calls() - before - 1
        pending = self.pending()
        error = None if pending == n else f"{pending} of {n} jobs queued after the run"
        return {
            "jobs": n,
            "seconds": elapsed,
            "rate": n / elapsed,
            "cmds_per_job": commands / n,
            "error": error,
        }

    def process(self, n: int, threads: int, sleep: float, timeout: float) -> dict:
        """One worker process with `threads` threads. Done when the last jobs (every job when they
        sleep) have noted their end and Redis holds none of them; the rate is from the first job's
        start to the last job's end, as noted by the task."""
        self.target.clean()
        for i in range(n):
            self.send(i, n, 0.0, sleep)
        need = set(range(n)) if sleep else set(range(max(0, n - EDGE), n))
        tag = f"{self.key}-{threads}t"
        own = 1  # our commands in the measured window, starting with the first INFO
        before = self.target.calls()
        t0 = time.perf_counter()
        worker, record = self._spawn(threads, tag)
        error = None
        rows: dict = {}
        while True:
            rows = self._records(record)
            if need <= rows.keys():
                own += 1
                if self.pending() == 0:
                    break
            if worker.poll() is not None:
                error = f"{tag} exited with {worker.returncode}:\n{self.target.log_tail(tag)}"
                break
            if time.perf_counter() - t0 > timeout:
                error = f"timed out after {timeout:g}s"
                break
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        after = self.target.calls()
        self.target.stop(worker)
        starts = [rows[i][0] for i in (range(n) if sleep else range(min(EDGE, n))) if i in rows]
        ends = [rows[i][1] for i in need if i in rows]
        worker_rate = None
        if not error and starts and ends and max(ends) > min(starts):
            worker_rate = n / (max(ends) - min(starts))
        return processing_row(n, None if error else wall, worker_rate, (after - before - own) / n, error)

    def latency(self, count: int, rate: float) -> list[float]:
        self.target.clean()
        tag = f"latency-{self.key}"
        worker, record = self._spawn(self.threads, tag)
        try:
            self.send(-1, 0, time.time(), 0.0)  # a first job: the worker is up and has run a job
            self._wait(record, {-1}, worker, 60, tag)
            t0 = time.perf_counter()
            for i in range(count):
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                self.send(i, count, time.time(), 0.0)
            rows = self._wait(record, set(range(count)), worker, 30, tag)
        finally:
            self.target.stop(worker)
        return [(rows[i][0] - rows[i][2]) * 1000 for i in range(count)]

    def _wait(self, record: Path, ids: set[int], worker, timeout: float, tag: str) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self._records(record)
            if ids <= rows.keys():
                return rows
            if worker.poll() is not None:
                raise PeerError(f"{tag} exited with {worker.returncode}:\n{self.target.log_tail(tag)}")
            time.sleep(0.005)
        raise PeerError(f"{len(ids - rows.keys())} job(s) not done within {timeout:g}s")


class Huey(PythonPeer):
    key = "huey"
    label = "huey (thread worker)"
    threads = 1

    def configure(self, prefix: str) -> None:
        os.environ["BENCH_HUEY_NAME"] = self.name = prefix.replace("-", "_") + "_huey"

    def send(self, i: int, n: int, enqueued: float, sleep: float) -> None:
        self.app.job(i, n, enqueued, sleep)

    def pending(self) -> int:
        return self.target.conn.llen(self.app.huey.storage.queue_key)

    def command(self, threads: int) -> list[str]:
        return [
            *_console_script("huey_consumer", "huey.bin.huey_consumer"),
            "peer_huey.huey",
            "-w",
            str(threads),
            "-k",
            "thread",
        ]


class Dramatiq(PythonPeer):
    key = "dramatiq"
    label = "dramatiq (8 threads)"
    threads = 8

    def configure(self, prefix: str) -> None:
        os.environ["BENCH_DRAMATIQ_NS"] = self.namespace = f"{prefix}-dramatiq"

    def send(self, i: int, n: int, enqueued: float, sleep: float) -> None:
        self.app.job.send(i, n, enqueued, sleep)

    def pending(self) -> int:
        return self.target.conn.hlen(f"{self.namespace}:{self.app.QUEUE}.msgs")  # bodies stay until acked

    def command(self, threads: int) -> list[str]:
        return [
            *_console_script("dramatiq", "dramatiq"),
            "peer_dramatiq",
            "--processes",
            "1",
            "--threads",
            str(threads),
            "--path",
            str(BENCH),
        ]


def key_patterns(prefix: str) -> list[str]:
    """SCAN patterns of every key the peers write under this bench run's prefix."""
    return [f"{prefix}-*", f"huey.*.{prefix.replace('-', '_')}_huey*"]


def start(target, prefix: str, wanted: list[str]) -> tuple[list, list[str]]:
    """The peers that can run (in table order) and one line for each that cannot."""
    peers, skipped = [], []
    if "bullmq" in wanted:
        reason = BullMQ.prepare()
        if reason is None:
            try:
                peers.append(BullMQ(target, prefix))
            except (OSError, ValueError, KeyError) as exc:
                reason = f"bench/node is not usable: {exc}"
        if reason:
            skipped.append(f"BullMQ skipped: {reason}")
    python_wanted = [cls for cls in (Huey, Dramatiq) if cls.key in wanted]
    if python_wanted:
        reason = prepare_python_peers()
        for cls in python_wanted:
            if reason is None:
                try:
                    peers.append(cls(target, prefix))
                    continue
                except Exception as exc:  # noqa: BLE001 - an import that fails skips the peer, says why
                    skipped.append(f"{cls.key} skipped: {type(exc).__name__}: {exc}")
                    continue
            skipped.append(f"{cls.key} skipped: {reason}")
    for line in skipped:
        log(line)
    return peers, skipped
