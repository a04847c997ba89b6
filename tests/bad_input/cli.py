"""The command tree, walked once: the battery's command-line cases are generated from it, so a new
command or option is tried like the rest."""

from __future__ import annotations

from typer.main import get_command
from typer.testing import CliRunner

from jobctl.cli.app import app

ROOT = get_command(app)


def _walk(command, path: tuple[str, ...]):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _walk(sub, (*path, name))
    else:
        yield " ".join(path), command


COMMANDS = dict(_walk(ROOT, ()))  # "enqueue email" -> its click command


def run(*args: str, input: str | None = None):
    """jobctl in process, named as the installed command is (hints say `see jobctl ... --help`)."""
    return CliRunner().invoke(app, list(args), input=input, prog_name="jobctl")


def is_number(param) -> bool:
    descriptor = param.type_descriptor
    return descriptor is not None and descriptor.annotation in (int, float, int | None, float | None)
