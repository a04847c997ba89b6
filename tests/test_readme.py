"""The README is the admin's first stop: it must not drift from the code."""

from __future__ import annotations

from pathlib import Path

import typer.main

from jobctl.cli.app import app
from jobctl.config import FIELDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented():
    missing = [f.env for f in FIELDS if f"`{f.env}`" not in README and f.env not in README]
    assert not missing, f"README lacks: {missing}"


def test_every_command_group_is_documented():
    command = typer.main.get_command(app)
    missing = [name for name in command.commands if f"jobctl {name}" not in README]
    assert not missing, f"README lacks: {missing}"


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 dev.py test" in README and "python3 dev.py demo" in README
    assert ci.strip().splitlines()[-1] == "python3 dev.py test"
