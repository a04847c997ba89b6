"""jobctl worker start|list, jobctl workers start"""

from __future__ import annotations

import typer
from rich.table import Table

from jobctl.cli import completion
from jobctl.cli.common import JsonOption, emit_json, new_app, state, stdout
from jobctl.core.logs import configure_logging
from jobctl.core.stats import list_workers, workers_by_host
from jobctl.core.supervisor import WorkerSpec, all_queue_specs, run_worker, run_workers
from jobctl.core.worker import physical_queue_names
from jobctl.errors import ExitCode, RedisUnavailable, UsageError

worker_app = new_app("Run and inspect workers.")
POOLS = ("process", "thread")
workers_app = new_app("Run workers for every queue.")


LogFormatOption = typer.Option(
    None,
    "--log-format",
    help="text or json: one JSON object per line, each finished "
    "job with its fields (default: JOBCTL_LOG_FORMAT).",
)


def setup_logs(settings, log_format: str | None) -> None:
    if log_format not in (None, "text", "json"):
        raise UsageError(f"--log-format {log_format!r} is not text or json", "use --log-format json")
    configure_logging(settings.log_level, log_format or settings.log_format)


@worker_app.command("start")
def start(
    ctx: typer.Context,
    queue: list[str] = typer.Option(
        ..., "--queue", "-q", help="Queue to work on (repeatable).", autocompletion=completion.QUEUE
    ),
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, help="Jobs run at once."),
    pool: str = typer.Option(
        "process",
        "--pool",
        help="process: one supervised process per job slot (CPU-bound "
        "work, images); thread: one process running --concurrency "
        "jobs on threads (I/O-bound: email, payments, fetches).",
    ),
    burst: bool = typer.Option(
        False,
        "--burst",
        help="Quit when the queues are empty (exit 3 after JOBCTL_REDIS_WAIT without Redis).",
    ),
    max_jobs: int | None = typer.Option(None, "--max-jobs", min=1, help="Quit after N jobs (per process)."),
    name: str | None = typer.Option(None, "--name", help="Worker name (single process only)."),
    log_format: str | None = LogFormatOption,
) -> None:
    """Work on QUEUE(s), high priority before normal before low. SIGTERM finishes the job in hand."""
    settings = state(ctx).settings
    physical_queue_names(settings, queue)
    if name and concurrency > 1 and pool != "thread":
        raise UsageError("--name needs --concurrency 1", "names are generated per process otherwise")
    if pool not in POOLS:
        raise UsageError(
            f"--pool {pool!r} is not process or thread", "use --pool thread for I/O-bound job types"
        )
    setup_logs(settings, log_format)
    threads = concurrency if pool == "thread" else 1
    spec = WorkerSpec(list(queue), burst=burst, max_jobs=max_jobs, name=name, threads=threads)
    if concurrency == 1 or pool == "thread":
        run_worker(settings, spec)
    else:
        code = run_workers(
            settings, [WorkerSpec(list(queue), burst=burst, max_jobs=max_jobs) for _ in range(concurrency)]
        )
        _exit(code, settings)


def _exit(code: int, settings) -> None:
    """The supervisor's exit code as the CLI's; the workers logged the details."""
    if code == ExitCode.UNREACHABLE:
        raise RedisUnavailable(
            f"burst workers gave up waiting for Redis after {settings.redis_wait:g} s",
            "start the server or fix REDIS_URL; JOBCTL_REDIS_WAIT sets how long they wait",
        )
    if code:  # e.g. a job no key of theirs decrypts
        raise typer.Exit(code)


@worker_app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Registered workers, grouped by host: state (dead when heartbeats stopped), current job and its
    runtime, heartbeat age, memory, jobs done/failed. --json adds "hosts": workers and live ones per
    host."""
    st = state(ctx)
    rows = list_workers(st.connection, st.settings)
    if as_json:
        emit_json({"workers": rows, "hosts": workers_by_host(rows)})
        return
    if not rows:
        stdout.print("no workers running (start one: jobctl worker start --queue NAME)")
        return
    table = Table("host", "name", "queues", "state", "job", "beat", "rss", "pid", "done", box=None)
    previous_host = None
    for r in rows:
        host = r["host"] or "-"
        queues = ",".join(sorted({q.rsplit(":", 1)[0] for q in r["queues"]}))
        job = (
            f"{r['current_job'][:8]} {r['current_job_seconds']:g}s"
            if r["current_job_seconds"] is not None
            else (r["current_job"] or "-")
        )
        beat = "-" if r["heartbeat_age_seconds"] is None else f"{r['heartbeat_age_seconds']:.0f}s"
        rss = "-" if r["rss_bytes"] is None else f"{r['rss_bytes'] / 1024**2:.0f}M"
        # the host once per group; names built here start with it (HOST:PID:RANDOM), shown once
        name = r["name"].removeprefix(f"{host}:")
        table.add_row(
            host if host != previous_host else "",
            name[:20],
            queues,
            r["state"] if r["alive"] else "[red]dead[/red]",
            job,
            beat,
            rss,
            str(r["pid"]),
            f"{r['jobs_done']}/{r['jobs_failed']}",
        )
        previous_host = host
    stdout.print(table)


@workers_app.command("start")
def start_all(
    ctx: typer.Context,
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, help="Processes per queue."),
    burst: bool = typer.Option(
        False,
        "--burst",
        help="Quit when the queues are empty (exit 3 after JOBCTL_REDIS_WAIT without Redis).",
    ),
    log_format: str | None = LogFormatOption,
) -> None:
    """One supervised worker process per queue; a process that dies is restarted. The supervisor also
    evaluates the alert rules (one evaluator at a time among schedulers, supervisors and monitors)."""
    settings = state(ctx).settings
    setup_logs(settings, log_format)
    code = run_workers(
        settings, all_queue_specs(settings, concurrency=concurrency, burst=burst), evaluate_alerts=True
    )
    _exit(code, settings)
