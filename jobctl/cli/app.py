"""The `jobctl` command: global options, and the commands and noun sub-apps declared by name.

A command line runs one command, so the root imports only the module of the command it runs:
the table below names each command's "module:attribute" and JobctlRoot loads an entry when click
asks for it. `jobctl --help` (and code that walks the whole tree) loads them all.
"""

from __future__ import annotations

import copy
import functools
import importlib
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import typer
from typer.main import get_command_from_info, get_command_name, get_group

from jobctl import __version__
from jobctl.cli.common import JobctlGroup, new_app, state
from jobctl.core import audit as core_audit
from jobctl.core import logs as core_logs

# name -> "module:attribute" (a command function or a sub-app), in the order `jobctl --help` lists them
COMMANDS: dict[str, str] = {
    "stats": "jobctl.cli.stats:stats",
    "metrics": "jobctl.cli.metrics:metrics",
    "monitor": "jobctl.cli.alerts:monitor",
    "dash": "jobctl.cli.dash:dash",
    "demo": "jobctl.cli.demo:demo",
    "clear": "jobctl.cli.ops:clear",
    "retry": "jobctl.cli.ops:retry",
    "serve": "jobctl.cli.serve:serve",
    "config": "jobctl.cli.config_cmd:app",
    "server": "jobctl.cli.server:app",
    "enqueue": "jobctl.cli.enqueue:app",
    "worker": "jobctl.cli.workers:worker_app",
    "workers": "jobctl.cli.workers:workers_app",
    "queue": "jobctl.cli.queues:app",
    "job": "jobctl.cli.jobs:app",
    "email": "jobctl.cli.email:app",
    "dlq": "jobctl.cli.dlq:app",
    "schedule": "jobctl.cli.schedule:app",
    "scheduler": "jobctl.cli.scheduler:app",
    "db": "jobctl.cli.db:app",
    "alerts": "jobctl.cli.alerts:app",
    "analytics": "jobctl.cli.analytics:app",
    "report": "jobctl.cli.report:app",
    "referrals": "jobctl.cli.referrals:app",
    "payments": "jobctl.cli.payments:app",
    "audit": "jobctl.cli.audit:app",
    "keys": "jobctl.cli.keys:app",
    "token": "jobctl.cli.token:app",
}


def load_command(name: str, target: str) -> Any:
    """The click command for one entry of COMMANDS, built as typer builds a root's own commands: the
    entry is registered on a stand-in root with the root's settings (new_app) and taken from its group.
    A sub-app's group is built without its commands, and gets them lazily too (LazyCommands): `jobctl
    enqueue email` builds the email command only, not the eight others of `enqueue`."""
    module, _, attribute = target.partition(":")
    obj = getattr(importlib.import_module(module), attribute)
    holder = new_app("")
    if not isinstance(obj, typer.Typer):
        holder.command(name)(obj)
        return get_group(holder).commands[name]
    if obj.registered_groups:  # a sub-app with sub-apps of its own: built whole, as typer does
        holder.add_typer(obj, name=name)
        return get_group(holder).commands[name]
    shell = copy.copy(obj)  # the same sub-app without its commands: its group's options, help, class
    shell.registered_commands = []
    holder.add_typer(shell, name=name)
    group = get_group(holder).commands[name]
    builders: dict[str, Callable[[], Any]] = {}
    for info in obj.registered_commands:
        assert info.callback is not None
        command_name = info.name or get_command_name(info.callback.__name__)
        builders[command_name] = functools.partial(
            get_command_from_info,
            info,
            pretty_exceptions_short=holder.pretty_exceptions_short,
            rich_markup_mode=holder.rich_markup_mode,
        )
    group.commands = LazyCommands(builders)
    return group


class LazyCommands(MutableMapping[str, Any]):
    """A group's `commands`: every declared name is a key at no cost; reading an entry builds its
    click command once (for the root: imports its module). Iterating names (JobctlGroup's
    list_commands, `name in commands`) builds nothing; items() and values() build every command
    (help, docs, tests walking the tree)."""

    def __init__(self, builders: dict[str, Callable[[], Any]]) -> None:
        self._builders = dict(builders)
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            self._loaded[name] = self._builders[name]()  # KeyError for an unknown name, as a dict
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:  # click's add_command
        self._loaded[name] = command
        self._builders.setdefault(name, lambda: command)

    def __delitem__(self, name: str) -> None:
        del self._builders[name]
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)

    def __contains__(self, name: object) -> bool:
        return name in self._builders


class JobctlRoot(JobctlGroup):
    """The root group: its subcommands come from COMMANDS, each imported when first asked for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(
            {name: functools.partial(load_command, name, target) for name, target in COMMANDS.items()}
        )


app = new_app("Operate the marketplace's background jobs (RQ over Redis).", cls=JobctlRoot)


def _version(value: bool) -> None:
    # `jobctl --version` alone is answered by jobctl.cli.launch before typer loads; this is
    # `jobctl --home X --version` and the in-process runs of the tests
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


def main() -> None:
    app(prog_name="jobctl")
