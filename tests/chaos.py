"""Chaos testing: where every job is, as Redis shows it, and the harness that kills things.

Shared by tests/e2e/test_chaos.py (CI) and bench/chaos.py (the long soak; it puts the repository
on sys.path). Only public state is read: RQ's keys (queue lists, registries, job hashes) and
jobctl's dead-letter index, all under RQ_KEY_PREFIX. Workers and servers are real processes
started through the CLI. Nothing here imports jobctl's worker, so the same checks hold for any
worker that keeps RQ's key layout.

`account(connection, job_ids)` puts each job in exactly one place:

    completed   job status `finished`
    dead        in jobctl's dead-letter index (`<prefix>:jobctl:dlq`)
    cancelled   status `canceled`/`stopped`, or in `<prefix>:canceled:<queue>`
    active      in `<prefix>:wip:<queue>` (members `<job_id>` or `<job_id>:<execution or token>`,
                scored by the lease deadline), or in RQ's `<prefix>:queue:<queue>:intermediate`
    waiting     in the list `<prefix>:queue:<queue>`
    scheduled   in `<prefix>:scheduled:<queue>` (retries and delayed jobs; scored by the due time)
    failed      in `<prefix>:failed:<queue>` (a sweep moves it to the dead-letter queue)
    lost        none of the above: nothing will ever run it again (e.g. its hash says `queued` but
                it is in no list, or its hash is gone)

Terminal = completed, dead or cancelled. `stuck` lists active jobs whose lease (the highest wip
score of the job) ran out more than `bound` seconds ago: the README promises an abandoned job is
found within 3 x JOBCTL_HEARTBEAT_INTERVAL + JOBCTL_MAINTENANCE_INTERVAL (`lease_bound`).

Module level imports only the standard library, so a script can still choose RQ_KEY_PREFIX first.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PRIORITIES = ("high", "normal", "low")
TERMINAL = frozenset({"completed", "dead", "cancelled"})
STATES = ("completed", "dead", "cancelled", "active", "waiting", "scheduled", "failed", "lost")


def key_prefix() -> str:
    return os.environ.get("RQ_KEY_PREFIX", "rq")


def physical(*queues: str) -> list[str]:
    """The RQ queues behind catalogue queues: `<name>:high`, `<name>:normal`, `<name>:low`."""
    return [f"{q}:{p}" for q in queues for p in PRIORITIES]


def lease_bound(heartbeat_interval: float, maintenance_interval: float) -> float:
    """README: a killed worker's job is found abandoned within 3 x heartbeat + maintenance seconds."""
    return 3 * heartbeat_interval + maintenance_interval


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class Account:
    """One atomic snapshot of where the jobs are (see the module doc)."""

    at: float  # the server's clock (epoch seconds) at the snapshot
    states: dict[str, str]
    lost: dict[str, str] = field(default_factory=dict)  # job id -> why it counts as lost
    stuck: dict[str, float] = field(default_factory=dict)  # job id -> seconds since its lease ran out
    overdue: dict[str, float] = field(default_factory=dict)  # scheduled job id -> seconds past due
    leftovers: Counter = field(default_factory=Counter)  # "completed+waiting": a terminal job still listed
    active_without_lease: set[str] = field(default_factory=set)  # active only in RQ's intermediate list
    # job -> [(wip key, member, score)]: its started-registry entries, scored by lease deadline
    holders: dict[str, list[tuple[str, str, float]]] = field(default_factory=dict)

    @property
    def counts(self) -> Counter:
        return Counter(self.states.values())

    @property
    def terminal(self) -> int:
        return sum(1 for s in self.states.values() if s in TERMINAL)

    @property
    def done(self) -> bool:
        return self.terminal == len(self.states)

    def pending(self) -> set[str]:
        return {i for i, s in self.states.items() if s not in TERMINAL}

    def line(self) -> str:
        counts = self.counts
        parts = [f"{s} {counts[s]}" for s in STATES if counts[s] or s in ("completed", "dead", "lost")]
        parts.append(f"stuck {len(self.stuck)}")
        if self.overdue:
            parts.append(f"overdue {len(self.overdue)}")
        return ", ".join(parts)

    def details(self, limit: int = 10) -> str:
        """The lost, stuck and overdue jobs (a few of each), for an assertion message."""
        lines = [self.line()]
        for what, items in (("lost", self.lost), ("stuck", self.stuck), ("overdue", self.overdue)):
            for job_id, why in list(items.items())[:limit]:
                lines.append(f"  {what} {job_id}: {why if isinstance(why, str) else f'{why:.1f} s'}")
        if self.leftovers:
            lines.append(f"  leftovers (terminal jobs still listed): {dict(self.leftovers)}")
        return "\n".join(lines)


# One atomic read of everything account() needs. KEYS: the lists, then the sorted sets read with
# scores, then those read without, then the job hashes; ARGV: how many of each of the first three.
_SNAPSHOT = """
local out = {redis.call('TIME')}
local i = 1
for _ = 1, tonumber(ARGV[1]) do out[#out + 1] = redis.call('LRANGE', KEYS[i], 0, -1); i = i + 1 end
for _ = 1, tonumber(ARGV[2]) do
  out[#out + 1] = redis.call('ZRANGE', KEYS[i], 0, -1, 'WITHSCORES'); i = i + 1
end
for _ = 1, tonumber(ARGV[3]) do out[#out + 1] = redis.call('ZRANGE', KEYS[i], 0, -1); i = i + 1 end
local statuses = {}
for j = i, #KEYS do statuses[#statuses + 1] = redis.call('HGET', KEYS[j], 'status') end
out[#out + 1] = statuses
return out
"""


def account(
    connection,
    job_ids: Iterable[str],
    *,
    queues: Sequence[str] = (),
    bound: float | None = None,
    prefix: str | None = None,
) -> Account:
    """Where each of `job_ids` is, read in one Lua call so no job is seen between two places.

    `queues` are the physical queues to read; without them, every job's `origin` (one more round
    trip, not atomic with the rest, which is fine: a job's origin does not change). `bound`
    (seconds, see lease_bound) turns on the stuck and overdue checks.
    """
    prefix = prefix or key_prefix()
    ids = list(dict.fromkeys(job_ids))
    names = set(queues)
    if not names:
        with connection.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(f"{prefix}:job:{job_id}", "origin")
            names.update(_text(o) for o in pipe.execute() if o)
    names = sorted(names)

    lists = [k for n in names for k in (f"{prefix}:queue:{n}", f"{prefix}:queue:{n}:intermediate")]
    scored = [k for n in names for k in (f"{prefix}:wip:{n}", f"{prefix}:scheduled:{n}")]
    plain = [k for n in names for k in (f"{prefix}:failed:{n}", f"{prefix}:canceled:{n}")] + [
        f"{prefix}:jobctl:dlq"
    ]
    hashes = [f"{prefix}:job:{job_id}" for job_id in ids]
    reply = connection.eval(
        _SNAPSHOT,
        len(lists) + len(scored) + len(plain) + len(hashes),
        *lists,
        *scored,
        *plain,
        *hashes,
        len(lists),
        len(scored),
        len(plain),
    )
    seconds, micros = reply[0]
    now = int(seconds) + int(micros) / 1e6
    list_replies = reply[1 : 1 + len(lists)]
    scored_replies = reply[1 + len(lists) : 1 + len(lists) + len(scored)]
    plain_replies = reply[1 + len(lists) + len(scored) : -1]
    statuses = [_text(s) for s in reply[-1]]

    def pairs(flat):
        return [(_text(flat[k]), float(flat[k + 1])) for k in range(0, len(flat), 2)]

    waiting: set[str] = set()
    claiming: set[str] = set()
    leases: dict[str, float] = {}
    holders: dict[str, list[tuple[str, str, float]]] = {}
    scheduled: dict[str, float] = {}
    failed: set[str] = set()
    canceled: set[str] = set()
    for n, name in enumerate(names):
        waiting.update(_text(m) for m in list_replies[2 * n])
        claiming.update(_text(m) for m in list_replies[2 * n + 1])
        for member, score in pairs(scored_replies[2 * n]):
            job_id = member.split(":", 1)[0]
            leases[job_id] = max(score, leases.get(job_id, float("-inf")))
            holders.setdefault(job_id, []).append((f"{prefix}:wip:{name}", member, score))
        for member, score in pairs(scored_replies[2 * n + 1]):
            scheduled[member] = score
        failed.update(_text(m) for m in plain_replies[2 * n])
        canceled.update(_text(m) for m in plain_replies[2 * n + 1])
    dead = {_text(m) for m in plain_replies[-1]}

    wanted = set(ids)
    result = Account(at=now, states={}, holders={i: h for i, h in holders.items() if i in wanted})
    for job_id, status in zip(ids, statuses, strict=True):
        places = (
            ("active", job_id in leases or job_id in claiming),
            ("waiting", job_id in waiting),
            ("scheduled", job_id in scheduled),
            ("failed", job_id in failed),
        )
        listed = [place for place, where in places if where]
        if job_id in dead:
            state = "dead"
        elif status == "finished":
            state = "completed"
        elif status in ("canceled", "stopped") or job_id in canceled:
            state = "cancelled"
        elif listed:
            state = listed[0]
        else:
            state = "lost"
            result.lost[job_id] = (
                "its job hash is gone"
                if status is None
                else f"status {status!r}, but in no queue, registry or dead-letter index"
            )
        result.states[job_id] = state
        if state in TERMINAL:
            for place in listed:
                result.leftovers[f"{state}+{place}"] += 1
        elif state == "active" and bound is not None:
            lease = leases.get(job_id)
            if lease is None:
                result.active_without_lease.add(job_id)
            elif lease != float("inf") and now - lease > bound:
                result.stuck[job_id] = now - lease
        elif state == "scheduled" and bound is not None and now - scheduled[job_id] > bound:
            result.overdue[job_id] = now - scheduled[job_id]
    return result


def confirmed(first: Account, second: Account) -> Account:
    """`second`, keeping as lost/stuck only what was already lost/stuck in `first` (taken earlier):
    a job caught between two steps of a worker that is still alive is not lost."""
    second.lost = {i: why for i, why in second.lost.items() if i in first.lost}
    second.stuck = {i: age for i, age in second.stuck.items() if i in first.stuck}
    return second


# --- processes ---------------------------------------------------------------------------------------


def _wait(predicate: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DurableServer:
    """A Redis-compatible server of our own on a TCP port, with its data in an append-only file.

    jobctl's embedded server keeps its data the same way (appendonly yes, no RDB snapshots), so a
    SIGKILL followed by a start on the same directory and port brings back every write the server
    acknowledged. `fsync="always"` (the default) makes that exact: with `everysec` the server may
    hold back its AOF write for up to 2 s while an fsync is slow, and a SIGKILL then takes writes
    it already acknowledged with it.
    """

    def __init__(
        self, directory: Path, *, port: int | None = None, fsync: str = "always", binary: str | None = None
    ):
        self.env: dict[str, str] | None = None  # as started: this process's environment
        if binary is None:
            # the binary jobctl itself would start, as it starts it (jemalloc preloaded if present)
            from jobctl.core.embedded import launch_env, server_binary

            binary = server_binary()
            self.env = launch_env(binary)
        self.binary = binary
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.fsync = fsync
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **kwargs):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def start(self, timeout: float = 30) -> None:
        with open(self.dir / "server.log", "ab") as log:  # the server writes to its own copy
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(self.dir),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    self.fsync,
                    "--save",
                    "",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.env,
            )
        self.starts += 1
        client = self.client(socket_timeout=2)
        try:
            _wait(lambda: self._ready(client), timeout, f"the server on port {self.port} to load its data")
        finally:
            client.close()

    def _ready(self, client) -> bool:
        import redis

        if self.proc.poll() is not None:
            raise AssertionError(
                f"the server exited with {self.proc.returncode}; see {self.dir / 'server.log'}"
            )
        try:
            return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            return False
        except redis.ResponseError as exc:  # LOADING on older clients
            if "LOADING" in str(exc):
                return False
            raise

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final fsync."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout: float = 20) -> None:
        """A graceful shutdown (SIGTERM: the server writes and fsyncs its AOF, then exits)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@dataclass
class WorkerProc:
    slot: int
    name: str
    proc: subprocess.Popen
    started: float


class WorkerPool:
    """`count` worker processes (`python -m jobctl worker start`), each restarted under a new name
    when the harness kills it. Output goes to one log file per process in `log_dir`."""

    def __init__(
        self,
        queues: Sequence[str],
        *,
        count: int,
        env: dict[str, str],
        log_dir: Path,
        cwd: Path | None = None,
        tag: str = "chaos",
    ):
        self.queues = list(queues)
        self.count = count
        self.env = env
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.cwd = cwd
        self.tag = tag
        self.current: dict[int, WorkerProc] = {}
        self.all: list[WorkerProc] = []
        self.generation = 0

    def start(self, slot: int) -> WorkerProc:
        self.generation += 1
        name = f"{self.tag}-{slot}-{self.generation}"
        args = [sys.executable, "-m", "jobctl", "worker", "start", "--name", name]
        for queue in self.queues:
            args += ["--queue", queue]
        with open(self.log_dir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                args,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = WorkerProc(slot, name, proc, time.monotonic())
        self.current[slot] = worker
        self.all.append(worker)
        return worker

    def start_all(self) -> None:
        for slot in range(self.count):
            self.start(slot)

    def kill(self, slot: int) -> WorkerProc:
        """SIGKILL the worker process itself (its scheduler child follows it, as in production)."""
        worker = self.current[slot]
        try:
            os.kill(worker.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.proc.wait(10)
        return worker

    def exited(self) -> list[WorkerProc]:
        """Current workers that exited on their own (not killed by the harness)."""
        return [w for w in self.current.values() if w.proc.poll() is not None]

    def stop_all(self, grace: float = 5) -> None:
        for worker in self.current.values():
            if worker.proc.poll() is None:
                worker.proc.terminate()
        deadline = time.monotonic() + grace
        for worker in self.current.values():
            try:
                worker.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for worker in self.all:  # whatever is left of each process group we started (schedulers)
            try:
                os.killpg(worker.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                worker.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def tail(self, lines: int = 30) -> str:
        """The end of every worker's log, newest workers last (for a failure message)."""
        out = []
        for worker in self.all[-6:]:
            path = self.log_dir / f"{worker.name}.log"
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
            out.append(f"--- {worker.name} (exit {worker.proc.returncode}) ---\n" + "\n".join(text))
        return "\n".join(out)


# --- the run -------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """What the harness does to the workers and the server, and how long it waits."""

    kill_every: float = 1.0  # seconds between worker SIGKILLs (each +- jitter, as a fraction)
    jitter: float = 0.3
    # a kill waits until the oldest worker has lived this long: a worker needs about 1.5 s of
    # imports before it takes a job, and one killed sooner would test nothing but start-up
    min_life: float = 1.5
    # server events, each (fraction of jobs terminal, or failing that seconds since start, kind):
    # kind "kill" = SIGKILL then start again on the same port and directory; "stop" = graceful
    server_events: Sequence[tuple[float, float, str]] = ((0.4, 6.0, "kill"),)
    server_down: float = 0.5  # seconds between the server's exit and its restart
    chaos_until: float = 0.9  # stop killing once this fraction of jobs is terminal and min_kills
    min_kills: int = 0  # workers were killed (a fast worker must not get off lightly) ...
    chaos_max: float = 20.0  # ... or after this many seconds, whichever comes first
    settle: float = 30.0  # then wait at most this long for every job to be terminal
    sample_every: float = 0.5
    give_up_after: float = 3.0  # stop settling early when only lost/stuck jobs remain for this long
    stop_on_lost: bool = False  # ... or as soon as any job has been lost for give_up_after (CI: a
    # lost job fails the run anyway, and nothing brings it back)


@dataclass
class Outcome:
    final: Account
    seconds: float  # from the workers' start to the final account
    chaos_seconds: float
    settle_seconds: float
    kills: int
    server_events: list[str]
    history: list[tuple[float, str]]  # (seconds since start, account line) every second or so
    self_exits: int  # worker processes that exited on their own during the run
    stopped_on_lost: bool = False  # the wait ended early because a job was lost (Plan.stop_on_lost)

    def report(self) -> str:
        return (
            f"{len(self.final.states)} jobs in {self.seconds:.1f} s (chaos {self.chaos_seconds:.1f} s, "
            f"settle {self.settle_seconds:.1f} s), {self.kills} worker SIGKILLs, server: "
            f"{', '.join(self.server_events) or 'untouched'}, workers that exited on their own: "
            f"{self.self_exits}{'; stopped waiting: a job was lost' if self.stopped_on_lost else ''}\n"
            f"{self.final.details()}"
        )


class ChaosRun:
    """Start the workers, kill them on a schedule (and the server once or twice), then wait.

    `on_kill(worker, killed_at)` is called right after each worker SIGKILL (before its restart);
    `on_sample(account, elapsed)` after each snapshot.
    """

    def __init__(
        self,
        connection,
        job_ids: Sequence[str],
        *,
        server: DurableServer,
        workers: WorkerPool,
        plan: Plan,
        bound: float,
        rng: random.Random,
        queues: Sequence[str] = (),
        on_kill: Callable[[WorkerProc, float], None] | None = None,
        on_sample: Callable[[Account, float], None] | None = None,
        log: Callable[[str], None] = lambda message: None,
    ):
        self.connection = connection
        self.job_ids = list(job_ids)
        self.server = server
        self.workers = workers
        self.plan = plan
        self.bound = bound
        self.rng = rng
        self.queues = list(queues)
        self.on_kill = on_kill
        self.on_sample = on_sample
        self.log = log
        self.kills = 0
        self.events_done: list[str] = []
        self.history: list[tuple[float, str]] = []
        self.self_exits = 0
        self.stopped_on_lost = False

    def snapshot(self) -> Account | None:
        import redis

        try:
            return account(self.connection, self.job_ids, queues=self.queues, bound=self.bound)
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            return None  # the server is down or loading: the next sample will do
        except redis.ResponseError as exc:
            if "LOADING" in str(exc):
                return None
            raise

    def _server_event(self, kind: str, elapsed: float) -> None:
        if kind == "kill":
            self.server.kill()
        else:
            self.server.stop()
        time.sleep(self.plan.server_down)
        self.server.start()
        self.events_done.append(f"{'SIGKILL' if kind == 'kill' else 'graceful stop'} at {elapsed:.1f} s")
        self.log(f"server {kind} + restart at {elapsed:.1f} s")

    def _kill_one(self) -> bool:
        """SIGKILL the worker that has run longest (ties go by the seed) and start another; False
        when even that one is younger than plan.min_life."""
        oldest = min(w.started for w in self.workers.current.values())
        if time.monotonic() - oldest < self.plan.min_life:
            return False
        slots = sorted(s for s, w in self.workers.current.items() if w.started - oldest < 0.05)
        slot = self.rng.choice(slots)
        killed = self.workers.kill(slot)
        killed_at = time.time()
        self.kills += 1
        if self.on_kill:
            self.on_kill(killed, killed_at)
        self.workers.start(slot)
        return True

    def run(self) -> Outcome:
        plan = self.plan
        t0 = time.monotonic()
        self.workers.start_all()
        events = sorted(plan.server_events, key=lambda e: e[1])
        next_kill = t0 + self._interval()
        next_sample = t0
        chaos_end: float | None = None
        last_history = -1.0
        dead_ends_since: float | None = None
        lost_since: dict[str, float] = {}
        acc: Account | None = None
        while True:
            time.sleep(0.05)
            now = time.monotonic()
            elapsed = now - t0
            for worker in self.workers.exited():  # a worker that died on its own is restarted too
                self.self_exits += 1
                self.log(f"worker {worker.name} exited on its own ({worker.proc.returncode}); restarting it")
                self.workers.start(worker.slot)
            if chaos_end is None and now >= next_kill and self._kill_one():
                next_kill = time.monotonic() + self._interval()
            if now < next_sample:
                continue
            next_sample = now + plan.sample_every
            sample = self.snapshot()
            if sample is not None:
                acc = sample
                if self.on_sample:
                    self.on_sample(acc, elapsed)
                if elapsed - last_history >= 1.0:
                    self.history.append((elapsed, acc.line()))
                    last_history = elapsed
            progress = acc.terminal / max(1, len(self.job_ids)) if acc else 0.0
            if sample is not None:
                lost_since = {i: lost_since.get(i, now) for i in sample.lost}
            if chaos_end is None:
                while events and (progress >= events[0][0] or elapsed >= events[0][1]):
                    self._server_event(events.pop(0)[2], elapsed)
                    next_kill = time.monotonic() + self._interval()
                enough = progress >= plan.chaos_until and self.kills >= plan.min_kills
                if not events and (enough or elapsed >= plan.chaos_max):
                    chaos_end = time.monotonic()
                    self.log(f"chaos over at {elapsed:.1f} s ({self.kills} kills); settling")
                continue
            if (acc is not None and acc.done) or now - chaos_end >= plan.settle:
                break
            if plan.stop_on_lost and any(now - t >= plan.give_up_after for t in lost_since.values()):
                self.log("a job is lost; not waiting any longer")
                self.stopped_on_lost = True
                break
            # nothing brings back a lost job, and a stuck one stays put: no point waiting for them
            if acc is None or not acc.pending() <= set(acc.lost) | set(acc.stuck):
                dead_ends_since = None
            elif dead_ends_since is None:
                dead_ends_since = now
            elif now - dead_ends_since >= plan.give_up_after:
                self.log("only lost or stuck jobs remain; not waiting any longer")
                break
        settle_end = time.monotonic()
        first = _wait(self.snapshot, 30, "a final account")
        time.sleep(1.0)
        final = confirmed(first, _wait(self.snapshot, 30, "a final account"))
        end = time.monotonic()
        self.history.append((end - t0, final.line()))
        chaos_end = chaos_end or settle_end
        return Outcome(
            final=final,
            seconds=end - t0,
            chaos_seconds=chaos_end - t0,
            settle_seconds=settle_end - chaos_end,
            kills=self.kills,
            server_events=self.events_done,
            history=self.history,
            self_exits=self.self_exits,
            stopped_on_lost=self.stopped_on_lost,
        )

    def _interval(self) -> float:
        return self.plan.kill_every * (1 + self.rng.uniform(-self.plan.jitter, self.plan.jitter))


def scratch_dir(prefix: str = "jobctl-chaos-") -> Path:
    """A fresh directory for the server's data, in memory (/dev/shm) when the machine has it.

    A SIGKILLed process loses nothing the kernel already has, on any filesystem; on tmpfs the
    fsync after every write (appendfsync always) costs nothing, on a disk it costs throughput."""
    import tempfile

    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))
