"""`jobctl db migrate|status|seed` through CliRunner: exit codes, JSON shapes, masking, progress on stderr."""

from __future__ import annotations

import json

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from jobctl.cli import db
from jobctl.cli.app import app as jobctl_app
from jobctl.cli.common import new_app
from jobctl.data import migrations

SMALL = ["--users", "200", "--days", "3", "--start", "2026-11-02", "--views-per-day", "500"]


def _app() -> typer.Typer:
    """The real `jobctl` once `db` is registered in it; until then a root with only `db` under it."""
    if "db" in typer.main.get_command(jobctl_app).commands:
        return jobctl_app
    root = new_app("test root")
    root.add_typer(db.app, name="db")
    return root


class Cli:
    def __init__(self):
        self.app = _app()
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0, input: str | None = None):
        result = self.runner.invoke(self.app, ["db", *args], input=input)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
        assert "Traceback" not in result.stdout + result.stderr
        return result

    def json(self, *args: str, code: int = 0) -> dict:
        return json.loads(self(*args, "--json", code=code).stdout)


@pytest.fixture
def cli(db_settings):
    return Cli()


def test_status_before_and_after_migrate(cli, database_url):
    before = cli.json("status")
    assert before["url"] == database_url and before["backend"] in ("sqlite", "postgresql")
    assert before["current_version"] == 0 and before["latest_version"] >= 1
    assert [p["version"] for p in before["pending"]] == list(range(1, before["latest_version"] + 1))
    assert set(before["tables"]) >= {"users", "orders", "page_views", "reports"}
    assert set(before["tables"].values()) == {None}

    migrated = cli.json("migrate")
    assert [m["version"] for m in migrated["applied"]] == [p["version"] for p in before["pending"]]
    assert migrated["current_version"] == migrated["latest_version"]
    assert cli.json("migrate")["applied"] == []

    after = cli.json("status")
    assert after["pending"] == [] and after["current_version"] == after["latest_version"]
    assert set(after["tables"].values()) == {0}
    text = cli("status").stdout
    assert "up to date" in text and "page_views" in text


def test_migrate_human_output(cli):
    assert "applied 1: marketplace tables" in cli("migrate").stdout
    assert "nothing to do" in cli("migrate").stdout


def test_seed_json_is_clean_and_migrates_first(cli):
    result = cli("seed", *SMALL, "--json")
    doc = json.loads(result.stdout)  # nothing but the document on stdout
    assert result.stderr == ""  # no progress bar with --json
    assert [m["version"] for m in doc["migrated"]] == [m.version for m in migrations.MIGRATIONS]
    assert doc["replaced"] is False
    assert (doc["seed"], doc["days"], doc["users"], doc["views_per_day"]) == (42, 3, 200, 500)
    assert (doc["start"], doc["end"]) == ("2026-11-02", "2026-11-04")
    assert doc["counts"]["users"] == 200 and doc["counts"]["page_views"] > 1000
    assert doc["rows"] == sum(doc["counts"].values()) and doc["rows_per_second"] > 0
    assert cli.json("status")["tables"]["users"] == 200


def test_seed_human_output_keeps_progress_off_stdout(cli):
    result = cli("seed", *SMALL)
    assert "seeded " in result.stdout and "2026-11-02 to 2026-11-04" in result.stdout
    assert "seeding" not in result.stdout


def test_seed_refuses_existing_data_and_replace_needs_confirmation(cli):
    cli("seed", *SMALL, "--json")
    refused = cli("seed", *SMALL, code=2)
    assert refused.stderr.startswith("jobctl: error: the database already holds data (users: 200")
    assert "--replace" in refused.stderr and len(refused.stderr.strip().splitlines()) == 2
    assert cli.json("seed", *SMALL, code=2)["error"]["code"] == "usage"

    unconfirmed = cli("seed", *SMALL, "--replace", "--seed", "7", code=2)
    assert "needs confirmation" in unconfirmed.stderr and "--yes" in unconfirmed.stderr
    replaced = cli.json("seed", *SMALL, "--replace", "--yes", "--seed", "7")
    assert replaced["replaced"] is True and replaced["seed"] == 7 and replaced["migrated"] == []


def test_replace_on_an_empty_store_asks_nothing(cli):
    assert cli.json("seed", *SMALL, "--replace")["replaced"] is False


@pytest.mark.parametrize(
    "args, message",
    [
        (["--start", "2026-13-01"], "--start expects a date YYYY-MM-DD"),
        (["--users", "5"], "--users"),
        (["--days", "0"], "--days"),
    ],
)
def test_seed_bad_input_exits_2_and_writes_nothing(cli, args, message):
    result = cli("seed", *args, code=2)
    assert message in result.stderr
    assert cli.json("status")["tables"]["users"] in (None, 0)


def test_unreachable_database_exits_3_with_the_password_masked(monkeypatch, closed_port):
    from jobctl.core import runtime

    monkeypatch.setenv("DATABASE_URL", f"postgresql://shop:s3cret-pw@127.0.0.1:{closed_port}/shop")
    runtime.reset()
    cli = Cli()
    for command in (["status"], ["migrate"], ["seed", *SMALL]):
        result = cli(*command, code=3)
        assert "s3cret-pw" not in result.stdout + result.stderr
        first, hint = result.stderr.strip().splitlines()
        assert first.startswith(
            f"jobctl: error: cannot reach the database at "
            f"postgresql://shop:********@127.0.0.1:{closed_port}/shop: "
        )
        assert hint.startswith("hint: ")
    doc = cli.json("status", code=3)
    assert doc["error"]["code"] == "database_unreachable" and "s3cret-pw" not in json.dumps(doc)
