"""The `jobctl` command: global options, and the noun sub-apps assembled in one place."""

from __future__ import annotations

from pathlib import Path

import typer

from jobctl import __version__
from jobctl.cli import (
    alerts,
    analytics,
    audit,
    config_cmd,
    dash,
    db,
    demo,
    dlq,
    email,
    enqueue,
    jobs,
    keys,
    metrics,
    ops,
    payments,
    queues,
    referrals,
    report,
    schedule,
    scheduler,
    serve,
    server,
    stats,
    token,
    workers,
)
from jobctl.cli.common import new_app, state
from jobctl.core import audit as core_audit
from jobctl.core import logs as core_logs

app = new_app("Operate the marketplace's background jobs (RQ over Redis).")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"jobctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    redis_url: str | None = typer.Option(None, "--redis-url", help="Redis server (overrides REDIS_URL)."),
    env_file: Path | None = typer.Option(None, "--env-file", help="Read settings from this .env file."),
    config: Path | None = typer.Option(None, "--config", help="Read settings from this jobctl.toml."),
    home: Path | None = typer.Option(None, "--home", help="State folder (overrides JOBCTL_HOME)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    core_logs.configure_cli_logging()  # a command's warnings are redacted like a worker's log
    st = state(ctx)
    st.verbose = verbose
    st.flags = {
        "redis_url": redis_url,
        "env_file": str(env_file) if env_file else None,
        "config": str(config) if config else None,
        "home": str(home) if home else None,
    }
    # every change this command makes is recorded as the OS user's, from the CLI
    ctx.with_resource(core_audit.acting_as(core_audit.Actor(core_audit.os_user(), "cli")))


app.add_typer(config_cmd.app, name="config")
app.add_typer(server.app, name="server")
app.add_typer(enqueue.app, name="enqueue")
app.add_typer(workers.worker_app, name="worker")
app.add_typer(workers.workers_app, name="workers")
app.add_typer(queues.app, name="queue")
app.add_typer(jobs.app, name="job")
app.add_typer(email.app, name="email")
app.add_typer(dlq.app, name="dlq")
app.add_typer(schedule.app, name="schedule")
app.add_typer(scheduler.app, name="scheduler")
app.add_typer(db.app, name="db")
app.add_typer(alerts.app, name="alerts")
app.add_typer(analytics.app, name="analytics")
app.add_typer(report.app, name="report")
app.add_typer(referrals.app, name="referrals")
app.add_typer(payments.app, name="payments")
app.add_typer(audit.app, name="audit")
app.add_typer(keys.app, name="keys")
app.add_typer(token.app, name="token")
app.command("stats")(stats.stats)
app.command("metrics")(metrics.metrics)
app.command("monitor")(alerts.monitor)
app.command("dash")(dash.dash)
app.command("demo")(demo.demo)
app.command("clear")(ops.clear)
app.command("retry")(ops.retry)
app.command("serve")(serve.serve)


def main() -> None:
    app(prog_name="jobctl")
