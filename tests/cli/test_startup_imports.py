"""Start-up cost: what a command line imports, in a fresh interpreter, as the `jobctl` console script
runs it (jobctl.cli.launch.main). Each command loads its own module and what it uses, nothing else
(jobctl.cli.app declares the commands by name; Rich, Jinja2, pydantic... load where they are used).

The lists are explicit: a new import of a heavy module on one of these paths fails here, naming it.
To allow one, add it to the command's ALLOWED list below with the reason it is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# run as the console script does, then write the names of the loaded modules to stdout's last line
RUN = """
import json, sys
sys.argv = ["jobctl", *sys.argv[1:]]
from jobctl.cli.launch import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stdout.write("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}) + "\\n")
"""

# what no command below needs: a UI, the web and data layers, and libraries only some commands use
HEAVY = (
    "rich",  # Rich renders tables; --json and plain output print with the json module
    "textual",  # jobctl dash
    "PIL",  # image jobs
    "reportlab",  # report PDFs
    "sqlalchemy",  # the data store (db, report, referrals, analytics jobs)
    "psycopg",
    "fastapi",  # jobctl serve
    "starlette",
    "uvicorn",
    "pydantic",  # typer's value conversion (jobctl.cli.coercion keeps plain values off it) and the API
    "prometheus_client",  # jobctl metrics
    "croniter",  # schedules
    "httpx",  # outbound HTTP: webhooks, providers, file fetches
    "cryptography.hazmat",  # encryption at rest, only with JOBCTL_ENCRYPTION_KEYS
    "cryptography.fernet",
    "redis.asyncio.client",  # the asyncio client: HTTP API and TUI only (jobctl/__init__.py)
    "jobctl.tui",
    "jobctl.http",
    "jobctl.web",
    "jobctl.data",
    "jobctl.core.alert_rules",
    "jobctl.core.alerts",
    "jobctl.core.schedules",
    "jobctl.jobs.files",
    "jobctl.jobs.reports",
    "jobctl.jobs.payments",
)

# the CLI's own modules every command line loads before its command's module
CLI_BASE = {
    "jobctl.cli",
    "jobctl.cli.launch",
    "jobctl.cli.completion",
    "jobctl.cli.app",
    "jobctl.cli.common",
    "jobctl.cli.coercion",
    "jobctl.cli.metavars",
    "jobctl.cli.examples",
}


def _loaded(modules: list[str], name: str) -> list[str]:
    return [m for m in modules if m == name or m.startswith(name + ".")]


def _imports(*args: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["code"] in (0, None), (proc.stdout, proc.stderr)
    return result["modules"]


def _assert_none_of(modules: list[str], names: tuple[str, ...] | list[str], command: str) -> None:
    found = {name: _loaded(modules, name)[:3] for name in names if _loaded(modules, name)}
    assert not found, f"`jobctl {command}` imports what it does not use: {found}"


def _assert_cli_modules(modules: list[str], allowed: set[str], command: str) -> None:
    extra = sorted(m for m in _loaded(modules, "jobctl.cli") if m not in allowed)
    assert not extra, f"`jobctl {command}` imports other commands' modules: {extra}"


def test_version_loads_neither_typer_nor_redis():
    modules = _imports("--version")
    # (redis.asyncio is there, not executed: jobctl/__init__.py registers it before redis loads)
    cli_only = ("typer", "click", "redis.client", "rq", "jobctl.config", "jobctl.core", "jobctl.cli.app")
    _assert_none_of(modules, (*cli_only, *HEAVY), "--version")
    assert "redis" not in modules


def test_version_prints_the_version():
    from jobctl import __version__

    out = subprocess.run(
        [str(os.path.join(os.path.dirname(sys.executable), "jobctl")), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (out.returncode, out.stdout, out.stderr) == (0, f"jobctl {__version__}\n", "")


def test_version_with_other_options_is_typer_s(cli, tmp_path):
    from jobctl import __version__

    assert cli("--home", str(tmp_path), "--version").stdout == f"jobctl {__version__}\n"


def test_stats_json_loads_only_stats():
    modules = _imports("stats", "--json")
    _assert_none_of(modules, (*HEAVY, "jinja2", "jobctl.jobs", "jobctl.api"), "stats --json")
    _assert_cli_modules(modules, CLI_BASE | {"jobctl.cli.stats"}, "stats --json")
    assert "jobctl.cli.stats" in modules and "redis" in modules  # it did run the command


@pytest.mark.parametrize("with_json", [False, True])
def test_enqueue_email_loads_only_enqueue_and_the_email_job(with_json):
    args = ["enqueue", "email", "--to", "ann@example.com", "--template", "welcome", "-d", "name=Ann"]
    args += ["-d", "login_url=https://shop.example/login", *(["--json"] if with_json else [])]
    modules = _imports(*args)
    _assert_none_of(modules, HEAVY, " ".join(args))
    # day_span and parse_day (`enqueue analytics`) live in jobctl.cli.analytics; progress: bulk enqueue
    allowed = CLI_BASE | {"jobctl.cli.enqueue", "jobctl.cli.analytics", "jobctl.cli.progress"}
    _assert_cli_modules(modules, allowed, " ".join(args))
    assert "jinja2" in modules  # the template is checked (rendered) before the job is queued


def test_help_lists_every_command():
    from jobctl.cli.app import COMMANDS

    out = subprocess.run(
        [str(os.path.join(os.path.dirname(sys.executable), "jobctl")), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    listed = [line.split()[0] for line in out.stdout.split("Commands:\n")[1].splitlines() if line.strip()]
    assert listed == list(COMMANDS)


@pytest.mark.parametrize("kind", ["report-kind", "template", "job-type", "priority"])
def test_completion_of_static_names_loads_no_job_code(kind):
    # a TAB runs this: the names come from light modules, not from the jobs that use them
    modules = _imports("__complete", kind)
    _assert_none_of(modules, ("typer", "jinja2", "jobctl.jobs.email", "jobctl.jobs.reports", *HEAVY), kind)
