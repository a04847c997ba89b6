"""The README is the admin's first stop: it must not drift from the code."""

from __future__ import annotations

from pathlib import Path

import typer.main

from jobctl.cli.app import app
from jobctl.config import FIELDS
from jobctl.core.keyspace import acl_rule

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented():
    missing = [f.env for f in FIELDS if f"`{f.env}`" not in README and f.env not in README]
    assert not missing, f"README lacks: {missing}"


def test_the_acl_block_is_the_one_the_acl_tests_use():
    # tests/e2e/test_tls_acl.py runs a full job flow with exactly acl_rule(): an admin pastes this line
    line = acl_rule(prefix="rq")  # the default RQ_KEY_PREFIX (the tests run under their own)
    assert line in README, f"README lacks the ACL line: {line}"


def test_every_command_group_is_documented():
    command = typer.main.get_command(app)
    missing = [name for name in command.commands if f"jobctl {name}" not in README]
    assert not missing, f"README lacks: {missing}"


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 dev.py test" in README and "python3 dev.py demo" in README
    assert ci.strip().splitlines()[-1] == "python3 dev.py test"
