from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from jobctl.cli.app import app


class Cli:
    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, code: int = 0):
        result = self.runner.invoke(app, list(args), input=input)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
        assert "Traceback" not in result.stdout + result.stderr
        return result

    def json(self, *args: str, code: int = 0):
        return json.loads(self(*args, "--json", code=code).stdout)


@pytest.fixture
def cli():
    return Cli()
