"""`jobctl demo`: a marketplace's day of jobs on all eight queues, run by real workers, touching
nothing but its own things.

Isolation, because the demo may share a server with real workers:
* Keys: the demo runs in a key namespace of its own (`jobctl-demo:<random>` as RQ_KEY_PREFIX, which
  jobctl's keys and scripts share with RQ's), so no other worker can take its jobs, and it deletes
  exactly that namespace's keys when it ends (SCAN MATCH, never FLUSH). RQ reads the prefix once,
  at import, so the demo runs in a process started with it (jobctl.demo.run).
* Providers and files: outbox email and the sandbox payment provider whatever the environment
  says (real provider keys are blanked), a data store of its own (a SQLite file in the state
  folder's demo/ folder, removed at the end), and outputs (outbox, uploads, processed files,
  reports) in that demo/ folder, which each run starts afresh.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import shutil
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import redis
from rq.defaults import RQ_KEY_PREFIX  # read at import: in the demo's own process, its namespace

from jobctl.config import Settings, Value
from jobctl.core import embedded
from jobctl.core.connection import connect, embedded_maxmemory
from jobctl.core.lifetime import die_with_parent
from jobctl.errors import JobctlError

NAMESPACE_PREFIX = "jobctl-demo"
FOLDER = "demo"
DB_FILE = "demo.db"
# settings the demo forces, whatever the environment and config files say: nothing may leave the
# machine (mail, payments, alert webhooks) or land in the user's own files (store, storage, audit)
_BLANKED = (
    "sendgrid_api_key",
    "smtp_password",
    "stripe_api_key",
    "yookassa_shop_id",
    "yookassa_secret_key",
    "crypto_api_key",
    "crypto_url",
    "alert_webhook_url",
    "audit_file",
    "templates_dir",
    "virus_blocklist",
)


@dataclass
class DemoResult:
    enqueued: int
    completed: int
    failed: int
    elapsed: float
    settled: bool
    server: str
    namespace: str
    folder: str
    outbox: str
    uploads: str
    storage: str
    reports: str
    by_group: dict[str, int]
    queues: dict[str, dict[str, int]]
    dead_letter: dict[str, int]
    seeded_rows: int = 0
    keys_removed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.settled and self.failed == 0 and self.completed == self.jobs

    @property
    def jobs(self) -> int:
        """Every job that ran: the demo's own and those its jobs enqueued (a payment's receipt)."""
        return sum(q["enqueued"] for q in self.queues.values())

    @property
    def throughput(self) -> float:
        return self.completed / self.elapsed if self.elapsed else 0.0


def new_namespace() -> str:
    return f"{NAMESPACE_PREFIX}:{secrets.token_hex(4)}"


def for_demo(settings: Settings, redis_url: str, folder: Path) -> Settings:
    """The settings the demo's process and workers run with (see the module docstring)."""
    values = dict(settings.values)
    forced: dict[str, Any] = {
        "redis_url": redis_url,
        "home": str(folder),
        "email_provider": "outbox",
        "database_url": f"sqlite:///{folder / DB_FILE}",
        "storage_dir": str(folder / "storage"),
        # the default roots (storage and uploads/ in the demo's folder) hold its sample images
        "file_roots": (),
        # ERROR: the demo's dead letters are staged and its summary tells of them
        "virus_scanner": "builtin",
        "admin_emails": (),
        "log_level": "ERROR",
        **dict.fromkeys(_BLANKED, ""),
    }
    for name, value in forced.items():
        values[name] = Value(value, "demo")
    return replace(settings, values=values)


def check_namespace(connection: redis.Redis, namespace: str) -> None:
    """Refuse, in one line, when the demo cannot have keys of its own on this server."""
    probe = f"{namespace}:probe"
    try:
        if not connection.set(probe, "1", nx=True, px=60_000):
            raise JobctlError(f"key namespace {namespace} is already in use", "run the demo again")
        connection.delete(probe)
    except redis.exceptions.NoPermissionError:
        raise JobctlError(
            f"the demo needs keys of its own ({namespace}:*) and this Redis user may not write them",
            f"grant the user ~{NAMESPACE_PREFIX}:* or run the demo on the embedded server (unset REDIS_URL)",
        ) from None


def drop_namespace(connection: redis.Redis, namespace: str) -> int:
    """Delete the namespace's keys and nothing else: SCAN MATCH, UNLINK in batches."""
    removed, batch = 0, []
    for key in connection.scan_iter(match=f"{namespace}:*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            removed += connection.unlink(*batch)
            batch.clear()
    if batch:
        removed += connection.unlink(*batch)
    return removed


def _fresh_folder(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)  # the demo's own folder: last run's outputs
    folder.mkdir(parents=True)


def _remove_store(folder: Path) -> None:
    for name in (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", f"{DB_FILE}-journal"):
        (folder / name).unlink(missing_ok=True)


def _exit_on_term(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds run()'s finally: the workers are stopped, not orphaned


def _runner_main(settings: Settings, namespace: str, options: dict[str, Any], writer) -> None:
    """The demo's process: RQ_KEY_PREFIX is the demo's namespace here (and in the workers it starts)."""
    # a session of its own: Ctrl+C in the terminal reaches only the parent, which stops this process,
    # and this process its workers, in order (not every process of the group at once, mid-import)
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_term)
    die_with_parent()

    def send(message: dict[str, Any]) -> None:
        writer.send_bytes(json.dumps(message).encode())

    try:
        if namespace != RQ_KEY_PREFIX:
            raise JobctlError(
                f"the demo's process runs in key namespace {RQ_KEY_PREFIX}, not {namespace}",
                "report this: the demo refuses to share keys with other workers",
            )
        from jobctl.demo.run import run  # lazy: only the demo's own process needs it; ~8 ms of start-up

        send({"result": run(settings, progress=lambda p: send({"progress": p}), **options)})
    except JobctlError as exc:
        send({"error": exc.message, "hint": exc.hint, "code": int(exc.code)})


def _start_in_namespace(namespace: str, args: tuple) -> multiprocessing.Process:
    ctx = multiprocessing.get_context("spawn")
    process = ctx.Process(target=_runner_main, args=args, name="jobctl-demo")
    # RQ reads RQ_KEY_PREFIX once, at import, and this process has imported it already: only a new
    # process can use another namespace. It inherits the environment at start, so set it just then.
    previous = os.environ.get("RQ_KEY_PREFIX")
    os.environ["RQ_KEY_PREFIX"] = namespace
    try:
        process.start()
    finally:
        if previous is None:
            del os.environ["RQ_KEY_PREFIX"]
        else:
            os.environ["RQ_KEY_PREFIX"] = previous
    return process


def _run_in_namespace(
    settings: Settings,
    namespace: str,
    options: dict[str, Any],
    on_progress: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    reader, writer = multiprocessing.get_context("spawn").Pipe(duplex=False)
    process = _start_in_namespace(namespace, (settings, namespace, options, writer))
    writer.close()  # ours: EOF on the reader then means the demo's process has ended
    finished = False  # its last message came: it is exiting on its own
    try:
        while True:
            try:
                message = json.loads(reader.recv_bytes())
            except EOFError:
                raise JobctlError(
                    "the demo's process stopped before it finished", "see the messages above"
                ) from None
            if "progress" in message:
                if on_progress:
                    on_progress(message["progress"])
            elif "error" in message:
                finished = True
                raise JobctlError(message["error"], message["hint"], code=message["code"])
            else:
                finished = True
                return message["result"]
    finally:
        reader.close()
        if finished:
            process.join(30)  # it has stopped its workers and is exiting
        if process.is_alive():
            process.terminate()  # an interrupt or an error here: it stops its workers and exits
        process.join(30)
        if process.is_alive():
            process.kill()
            process.join(5)


@contextmanager
def _one_demo_at_a_time(home: Path) -> Iterator[None]:
    """Two demos in one state folder would replace each other's demo/ folder: the second is refused."""
    from filelock import FileLock, Timeout  # lazy: ~15 ms of start-up for every other command

    home.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(home / "demo.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise JobctlError(
            f"another jobctl demo is running in {home}",
            "wait for it to finish, or give this one another state folder (--home)",
        ) from None
    try:
        yield
    finally:
        lock.release()


def run_demo(
    settings: Settings,
    *,
    campaign_size: int = 300,
    concurrency: int = 2,
    seed: int = 7,
    timeout: float = 300,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> DemoResult:
    home = settings.home_path
    folder = home / FOLDER
    with _one_demo_at_a_time(home):
        started_server = not settings.redis_url and not embedded.status(home)["running"]
        redis_url = (
            settings.redis_url or f"unix://{embedded.ensure_running(home, embedded_maxmemory(settings))}"
        )
        namespace = new_namespace()
        demo_settings = for_demo(settings, redis_url, folder)
        connection = connect(demo_settings)
        owned = False  # the namespace is ours to delete only once the probe found it unused
        try:
            check_namespace(connection, namespace)
            owned = True
            _fresh_folder(folder)
            options = {
                "folder": folder,
                "campaign_size": campaign_size,
                "concurrency": concurrency,
                "seed": seed,
                "timeout": timeout,
            }
            run = _run_in_namespace(demo_settings, namespace, options, on_progress)
        finally:
            removed = drop_namespace(connection, namespace) if owned else 0
            connection.close()
            if owned:
                _remove_store(folder)
            if started_server:
                embedded.stop(home)
    queues = run["queues"]
    return DemoResult(
        enqueued=run["enqueued"],
        completed=sum(q["completed"] for q in queues.values()),
        failed=run["dead_letter"]["left"],
        elapsed=run["elapsed"],
        settled=run["settled"],
        server="REDIS_URL" if settings.redis_url else "embedded",
        namespace=namespace,
        folder=str(folder),
        outbox=str(folder / "outbox"),
        uploads=str(folder / "uploads"),
        storage=str(folder / "storage"),
        reports=str(folder / "storage" / "reports"),
        by_group=run["by_group"],
        queues=queues,
        dead_letter=run["dead_letter"],
        seeded_rows=run["seeded_rows"],
        keys_removed=removed,
    )
