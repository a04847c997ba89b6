"""A Sentinel-watched master and replica on loopback, and a failover run measured against it.

Shared by tests/e2e/test_sentinel_failover.py (short) and bench/failover.py (long; it puts the
repository on sys.path). A master, one replica (`replicaof`) and three Sentinels (quorum 2), each a
real server process on a free port with its own folder. `failover_run` streams jobs in while two
`jobctl worker start` processes and a `jobctl scheduler start` work against the redis+sentinel:// URL,
SIGKILLs the master mid-flow, and measures what the failover cost.

Each job is a `flaky` job with fail_times=0 that counts its executions in a file of its own, so a
duplicate (a job run twice: its completion was acknowledged by the old master but never reached the
replica, so the new master hands it out again after its lease runs out) is counted where it happens,
not guessed. Module level imports only the standard library, so a script can choose RQ_KEY_PREFIX first.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MASTER_NAME = "jobctl-test"
QUEUE = "file-processing"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (OSError, ConnectionError, LookupError, ValueError, TypeError, _redis_error()):
            # a server still starting, a failover under way
            value = None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _redis_error() -> type[Exception]:
    import redis

    return redis.RedisError


class SentinelGroup:
    """A master, a replica and three Sentinels (quorum 2). `kill_master` SIGKILLs whichever server is
    the master now; `restart_killed` starts it again (it comes back as a replica of the new master)."""

    def __init__(
        self,
        folder: Path,
        *,
        down_after_ms: int = 500,
        failover_timeout_ms: int = 2000,
        min_replicas_to_write: int = 0,
    ):
        from jobctl.core.embedded import server_binary

        self.binary = server_binary()
        self.folder = Path(folder)
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.min_replicas_to_write = min_replicas_to_write
        self.ports = [free_port(), free_port()]  # the first starts as master
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[int, subprocess.Popen] = {}
        self.killed: list[int] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{MASTER_NAME}/0"

    def _spawn(self, port: int, args: list[str], config: str | None = None) -> None:
        folder = self.folder / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        command = [self.binary]
        if config is not None:  # a Sentinel rewrites its config file: it must be its own
            (folder / "sentinel.conf").write_text(config)
            command += [str(folder / "sentinel.conf"), "--sentinel"]
        command += ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), *args]
        with open(folder / "log", "ab") as log:
            self.procs[port] = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _server_args(self, replica_of: int | None) -> list[str]:
        args = ["--save", "", "--appendonly", "no"]
        if self.min_replicas_to_write:  # refuse writes no replica confirms within 1 s (see README)
            args += [
                "--min-replicas-to-write",
                str(self.min_replicas_to_write),
                "--min-replicas-max-lag",
                "1",
            ]
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        return args

    def start(self) -> None:
        import redis

        master, replica = self.ports
        self._spawn(master, self._server_args(None))
        wait_until(lambda: redis.Redis(port=master).ping(), 10, "the master to start")
        self._spawn(replica, self._server_args(master))
        wait_until(
            lambda: redis.Redis(port=replica).info("replication").get("master_link_status") == "up",
            10,
            "the replica to sync",
        )
        config = (
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}\n"
            f"sentinel failover-timeout {MASTER_NAME} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        for port in self.sentinel_ports:
            self._spawn(port, [], config)
        for port in self.sentinel_ports:  # each Sentinel knows the replica and the other two
            wait_until(
                lambda p=port: self._sentinel_knows_all(p),
                15,
                f"Sentinel {port} to find the replica and the other Sentinels",
                interval=0.2,
            )

    def _sentinel_knows_all(self, port: int) -> bool:
        import redis

        state = redis.Redis(port=port, decode_responses=True).sentinel_master(MASTER_NAME)
        return int(state.get("num-slaves", 0)) >= 1 and int(state.get("num-other-sentinels", 0)) >= 2

    def master_port(self) -> int:
        import redis

        for port in self.sentinel_ports:
            try:
                _host, master = redis.Redis(port=port, socket_timeout=1).sentinel_get_master_addr_by_name(
                    MASTER_NAME
                )
                return int(master)
            except (redis.RedisError, TypeError):
                continue
        raise AssertionError("no Sentinel answered")

    def kill_master(self) -> int:
        """SIGKILL the master now; its port."""
        port = self.master_port()
        proc = self.procs[port]
        proc.kill()
        proc.wait(10)
        self.killed.append(port)
        return port

    def wait_failover(self, old_port: int, timeout: float = 30) -> int:
        """The port of the new master, once the Sentinels promoted one and it takes writes."""
        import redis

        def promoted() -> int | None:
            port = self.master_port()
            if port == old_port:
                return None
            role = redis.Redis(port=port, socket_timeout=1).info("replication")["role"]
            return port if role == "master" else None

        return int(wait_until(promoted, timeout, "the Sentinels to promote the replica", interval=0.05))

    def restart_killed(self, port: int) -> None:
        """The killed server started again as a replica of the new master, at once (what systemd's
        Restart= does; the Sentinels would reconfigure it anyway). It starts empty, so it starts with
        replica-priority 0: a Sentinel must not promote it before it synced (a spurious failover, a
        busy master missing down-after-milliseconds, would then wipe the data). `wait_synced` lifts it."""
        self._spawn(port, [*self._server_args(self.master_port()), "--replica-priority", "0"])

    def wait_synced(self, port: int, timeout: float = 20) -> None:
        import redis

        server = redis.Redis(port=port)
        wait_until(
            lambda: server.info("replication").get("master_link_status") == "up",
            timeout,
            f"the server on port {port} to sync as a replica",
        )
        server.config_set("replica-priority", 100)  # synced: a candidate for the next failover

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass


@dataclass
class FailoverResult:
    jobs: int
    lost: int  # acknowledged by enqueue, never ran
    duplicated: int  # completed jobs that ran more than once
    resume_seconds: list[float] = field(default_factory=list)  # per kill: SIGKILL -> next job completed
    failover_seconds: list[float] = field(default_factory=list)  # per kill: SIGKILL -> a new master
    lost_ids: list[str] = field(default_factory=list)
    scheduler_active: str | None = None
    states: dict[str, int] = field(default_factory=dict)  # job statuses at the end ("trimmed": retention)


def _env(url: str, prefix: str, home: Path) -> dict[str, str]:
    scrubbed = ("JOBCTL_", "EMAIL_", "SMTP_", "SENDGRID_", "STRIPE_", "YOOKASSA_", "CRYPTO_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(scrubbed) and k != "REDIS_PASSWORD"}
    return env | {
        "REDIS_URL": url,
        "RQ_KEY_PREFIX": prefix,
        "JOBCTL_HOME": str(home),
        "JOBCTL_HEARTBEAT_INTERVAL": "1",  # a job held by a completion the failover lost is
        "JOBCTL_MAINTENANCE_INTERVAL": "1",  # reclaimed within seconds, not minutes
        "JOBCTL_SCHEDULER_LEASE": "3",
        "JOBCTL_TEST_JOB_TYPES": "1",  # the jobs are `flaky` ones, a test-only type
        "PYTHONUNBUFFERED": "1",
    }


def failover_run(
    group: SentinelGroup,
    folder: Path,
    *,
    jobs: int,
    kills: int = 1,
    rate: float = 50.0,
    settle: float = 60.0,
    enqueue_replicas: int = 0,
    log: Callable[[str], None] = lambda _line: None,
) -> FailoverResult:
    """Stream `jobs` jobs in at `rate` a second while 2 workers and a scheduler run; SIGKILL the
    master `kills` times, evenly through the stream (each killed server is started again as a replica
    once a new master is up, as a service manager would); then wait up to `settle` seconds for every
    acknowledged job to complete.
    `enqueue_replicas` is JOBCTL_ENQUEUE_REPLICAS for the enqueuer (and every process)."""
    import redis

    from jobctl.config import load_settings
    from jobctl.core.bulk import enqueue_many
    from jobctl.core.connection import connect
    from jobctl.core.scheduler import scheduler_status

    prefix = os.environ.get("RQ_KEY_PREFIX", "rq")
    home = folder / "home"
    counters = folder / "counters"
    home.mkdir(parents=True, exist_ok=True)
    counters.mkdir(parents=True, exist_ok=True)
    env = _env(group.url, prefix, home) | {"JOBCTL_ENQUEUE_REPLICAS": str(enqueue_replicas)}
    settings = load_settings(environ=env)
    connection = connect(settings)
    procs: list[subprocess.Popen] = []
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)

    def spawn(name: str, *args: str) -> None:
        with open(logs / f"{name}.log", "wb") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "jobctl", *args],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )

    spawn("worker-1", "worker", "start", "--queue", QUEUE, "--name", "failover-1")
    spawn("worker-2", "worker", "start", "--queue", QUEUE, "--name", "failover-2")
    spawn("scheduler", "scheduler", "start")
    acknowledged: list[str] = []
    kill_at = {int(jobs * (k + 1) / (kills + 1)) for k in range(kills)}
    # per kill: (when, the first job enqueued after it); work has resumed once that job has run
    watch: tuple[float, str | None] | None = None
    result = FailoverResult(jobs=jobs, lost=0, duplicated=0)

    def counter(job_id: str) -> Path:
        return counters / job_id

    def executions(job_id: str) -> int:
        path = counter(job_id)
        return int(path.read_text() or 0) if path.exists() else 0

    def resumed() -> bool:
        nonlocal watch
        if watch is None or watch[1] is None or not counter(watch[1]).exists():
            return False
        result.resume_seconds.append(time.monotonic() - watch[0])
        log(f"jobs run again {result.resume_seconds[-1]:.1f} s after the SIGKILL")
        watch = None
        return True

    try:
        wait_until(lambda: scheduler_status(connection)["active"], 20, "the scheduler to take its lease")
        interval = 1.0 / rate
        for n in range(jobs):
            if n in kill_at:
                if watch is not None:  # the previous kill's work has not resumed yet: wait for it
                    wait_until(resumed, settle, "jobs to run again after the previous SIGKILL")
                if group.killed:  # the previous kill's server is a replica again: something to promote
                    group.wait_synced(group.killed[-1])
                killed_port = group.kill_master()
                watch = (time.monotonic(), None)
                log(f"SIGKILL the master on port {killed_port} after {n} jobs")
                new = group.wait_failover(killed_port)
                result.failover_seconds.append(time.monotonic() - watch[0])
                group.restart_killed(killed_port)
                log(f"port {new} is the master {result.failover_seconds[-1]:.1f} s after the SIGKILL")
            job_id = f"failover-{n:06d}"
            started = time.monotonic()
            while True:  # an enqueue the failover interrupted is sent again, under the same id
                try:
                    if connection.exists(f"{prefix}:job:{job_id}"):
                        break  # the interrupted one had landed (only its reply was lost)
                    enqueue_many(
                        connection,
                        settings,
                        "flaky",
                        [{"counter": str(counter(job_id)), "fail_times": 0}],
                        queue=QUEUE,
                        job_ids=[job_id],
                    )
                    break
                except (redis.ConnectionError, redis.TimeoutError):
                    time.sleep(0.1)
            acknowledged.append(job_id)
            if watch is not None and watch[1] is None:
                watch = (watch[0], job_id)
            resumed()
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
        if watch is not None:
            wait_until(resumed, settle, "jobs to run again after the last SIGKILL")
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline and not all(counter(j).exists() for j in acknowledged):
            time.sleep(0.2)
        statuses = _statuses(connection, prefix, acknowledged)
        result.states = dict(sorted(_count(s or "trimmed" for s in statuses.values()).items()))
        # never ran: a completed job's hash may already be gone (the queue's keep_completed trims the
        # oldest), so its execution count, not its status, says whether it ran
        result.lost_ids = [j for j in acknowledged if not executions(j)]
        result.lost = len(result.lost_ids)
        result.duplicated = sum(1 for j in acknowledged if executions(j) > 1)
        result.scheduler_active = scheduler_status(connection)["active"]
        exited = [p.args[3:5] for p in procs if p.poll() is not None]
        if exited:
            raise AssertionError(f"processes exited during the failover: {exited}\n{tail(logs)}")
        return result
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        _delete_prefixed(connection, prefix)
        connection.close()


def _statuses(connection, prefix: str, ids: list[str]) -> dict[str, str | None]:
    with connection.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(f"{prefix}:job:{job_id}", "status")
        replies = pipe.execute()
    return {j: (r.decode() if isinstance(r, bytes) else r) for j, r in zip(ids, replies, strict=True)}


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return counts


def _delete_prefixed(connection, prefix: str) -> None:
    for key in connection.scan_iter(f"{prefix}:*", count=1000):
        connection.delete(key)


def tail(logs: Path, lines: int = 25) -> str:
    out = []
    for path in sorted(logs.glob("*.log")):
        text = path.read_text(errors="replace").splitlines()[-lines:]
        out.append(f"--- {path.name} ---\n" + "\n".join(text))
    return "\n".join(out)
