"""No help text shows a Python type: every value is named for what it is (QUEUE, N, PATH)."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from jobctl.cli.app import app
from jobctl.cli.metavars import readable_metavar

PYTHON_TYPE = re.compile(r"list\[|dict\[|tuple\[|Optional|NoneType|<(?:str|int|float|bool|path)\b")


def _paths(command, path: tuple[str, ...] = ()):
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _paths(sub, (*path, name))


COMMANDS = list(_paths(typer.main.get_command(app)))


def test_the_walk_finds_the_commands():
    assert ("dlq", "retry") in COMMANDS and ("enqueue", "email") in COMMANDS and () in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "jobctl")
def test_help_names_values_not_python_types(path):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert not PYTHON_TYPE.findall(result.output), result.output


def test_help_of_dlq_retry_reads_as_a_person_would_write_it():
    out = CliRunner().invoke(app, ["dlq", "retry", "--help"], env={"COLUMNS": "200"}).output
    assert "[JOB_ID]..." in out and "--queue QUEUE" in out and "--error-contains TEXT" in out


def test_a_number_takes_n():
    command = typer.main.get_command(app)
    limit = next(p for p in command.commands["audit"].commands["list"].params if p.name == "limit")
    assert readable_metavar(limit) == "N"
