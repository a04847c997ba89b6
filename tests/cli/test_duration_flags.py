"""Every duration flag of the CLI, found in the command tree by its DURATION metavar, takes the one
grammar: a good value passes, a bad one exits 2 naming the flag and the grammar, with nothing stored.

The list is generated, so a new duration flag is tried here without anyone adding it; a flag
spelled like a duration (--in, --since, ...) without the metavar fails the completeness test.
"""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from jobctl.cli.app import app
from jobctl.cli.common import DURATION
from tests.conftest import KEY_PREFIX

DURATION_LIKE = {
    "--in",
    "--since",
    "--window",
    "--interval",
    "--refresh",
    "--timeout",
    "--ttl",
    "--delay",
    "--every",
    "--older-than",
    "--max-age",
}
WELCOME = ["--template", "welcome", "--data", "name=Ann", "--data", "login_url=https://x.example/login"]


def _commands(command, path=()):
    subs = getattr(command, "commands", None)
    if subs:
        for name, sub in sorted(subs.items()):
            yield from _commands(sub, (*path, name))
    else:
        yield path, command


ALL_COMMANDS = list(_commands(typer.main.get_command(app)))
DURATION_FLAGS = [
    (path, param.opts[0])
    for path, command in ALL_COMMANDS
    for param in command.params
    if getattr(param, "metavar", None) == DURATION
]
IDS = [" ".join((*path, flag)) for path, flag in DURATION_FLAGS]

# what each command needs besides the flag to get as far as doing its work
BASE = {
    ("audit", "list"): [],
    ("dash",): [],
    ("dlq", "groups"): [],
    ("dlq", "list"): [],
    ("dlq", "purge"): ["--all", "--yes"],
    ("dlq", "retry"): ["--all", "--yes"],
    ("enqueue", "analytics"): ["--type", "daily", "--from", "2026-01-01"],
    ("enqueue", "commission"): ["--order-id", "1"],
    ("enqueue", "email"): ["--to", "ann@example.com", *WELCOME],
    ("enqueue", "email-bulk"): [
        "--template",
        "welcome",
        "--recipients",
        "{csv}",
        "--data",
        "login_url=https://x.example/login",
    ],
    ("enqueue", "file"): ["--url", "{png}", "--type", "png"],
    ("enqueue", "noop"): [],
    ("enqueue", "job"): ["noop"],
    ("enqueue", "payment"): [
        "--payment-id",
        "1",
        "--provider",
        "stripe",
        "--amount",
        "12.34",
        "--currency",
        "usd",
        "--customer-id",
        "1",
    ],
    ("enqueue", "report"): ["daily"],
    ("monitor",): ["--once"],
    ("stats",): [],
}
GOOD = {"--refresh": "30s", "--interval": "1m30s"}  # within their bounds; the rest take any
# these check their target in the data store, which these tests leave empty: the duration passes,
# then the command answers about the store (not with a usage error about the flag)
NEEDS_STORE = {("enqueue", "payment"), ("enqueue", "commission")}


@pytest.fixture
def files(tmp_path) -> dict[str, str]:
    from PIL import Image

    png = tmp_path / "pixel.png"
    Image.new("RGB", (4, 4), "red").save(png)
    csv = tmp_path / "people.csv"
    csv.write_text("email,name\nann@example.com,Ann\nbob@example.com,Bob\n")
    return {"png": str(png), "csv": str(csv)}


@pytest.fixture
def no_tui(monkeypatch):
    """`dash` would take the terminal: its app's run is replaced by a recorder."""
    from jobctl.tui.app import DashApp

    ran = {}
    monkeypatch.setattr(DashApp, "run", lambda self: ran.update(refresh=self.refresh_seconds))
    return ran


def _args(path, flag, value, files) -> list[str]:
    return [*path, *(a.format(**files) for a in BASE[path]), flag, value]


def _jobs(redis_client) -> int:
    return sum(1 for _ in redis_client.scan_iter(match=f"{KEY_PREFIX}:job:*", count=1000))


def test_the_duration_flags_are_found_and_all_marked():
    assert len(DURATION_FLAGS) >= 16 and (("stats",), "--window") in DURATION_FLAGS
    unmarked = [
        (path, param.opts)
        for path, command in ALL_COMMANDS
        for param in command.params
        if set(getattr(param, "opts", [])) & DURATION_LIKE and getattr(param, "metavar", None) != DURATION
    ]
    assert unmarked == [], "a duration flag without metavar=DURATION (jobctl.cli.common) skips the grammar"


@pytest.mark.parametrize(("path", "flag"), DURATION_FLAGS, ids=IDS)
def test_a_bad_duration_is_refused_naming_the_flag(path, flag, files, no_tui, redis_client, settings):
    assert path in BASE, f"add what `jobctl {' '.join(path)}` needs to BASE"
    result = CliRunner().invoke(app, _args(path, flag, "soon", files))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    first, hint = result.stderr.splitlines()[:2]
    assert first.startswith(f"jobctl: error: {flag} expects a duration like 90s, 10m, 2h, 1d, 1w or 1h30m")
    assert first.endswith("got 'soon'") and hint.startswith("hint: units are w, d, h, m and s")
    assert "Traceback" not in result.stdout + result.stderr
    assert _jobs(redis_client) == 0 and no_tui == {}  # nothing enqueued, nothing started


@pytest.mark.parametrize(("path", "flag"), DURATION_FLAGS, ids=IDS)
def test_a_good_duration_is_taken(path, flag, files, no_tui, redis_client, settings):
    result = CliRunner().invoke(app, _args(path, flag, GOOD.get(flag, "1h30m"), files))
    assert "Traceback" not in result.stdout + result.stderr
    if path in NEEDS_STORE:
        assert "expects a duration" not in result.stderr and flag not in result.stderr, result.stderr
        assert "in the store" in result.stderr or result.exit_code == 0, result.stderr
        return
    assert result.exit_code == 0, (result.stdout, result.stderr)
    if path == ("dash",):
        assert no_tui == {"refresh": 30.0}
    if flag == "--in":  # the jobs wait 1h30m, none runs now
        from jobctl.core.stats import queue_stats

        totals = [q["totals"] for q in queue_stats(redis_client, settings)["queues"]]
        assert sum(t["scheduled"] for t in totals) >= 1 and sum(t["waiting"] for t in totals) == 0


def test_bare_seconds_still_work_where_they_did():
    from jobctl.core.dlq import parse_since

    assert parse_since("90") == 90
    result = CliRunner().invoke(app, ["dlq", "list", "--since", "90", "--json"])
    assert result.exit_code == 0 and '"entries": []' in result.stdout
    assert CliRunner().invoke(app, ["stats", "--interval", "0.5"]).exit_code == 0
    refused = CliRunner().invoke(app, ["enqueue", "noop", "--in", "10"])  # ten seconds or ten minutes?
    assert refused.exit_code == 2 and "--in expects a duration like 90s" in refused.stderr


def test_the_http_api_names_its_parameter(settings, redis_client):
    from fastapi.testclient import TestClient

    from jobctl.core import tokens
    from jobctl.http import create_app

    token = tokens.create_token(redis_client, settings, "viewer-token", "viewer")["token"]
    with TestClient(
        create_app(settings, redis_client), headers={"Authorization": f"Bearer {token}"}
    ) as client:
        for url, name in (("/api/jobs/dlq?since=soon", "since"), ("/api/jobs/stats?window=soon", "window")):
            response = client.get(url)
            assert response.status_code in (400, 422), response.text
            assert f"{name} expects a duration like 90s" in response.text
        assert client.get("/api/jobs/dlq?since=1h30m").status_code == 200
