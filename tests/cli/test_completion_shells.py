"""The generated completion scripts, driven in real bash, zsh and fish: TAB after a command line offers
the names `jobctl __complete` lists, read with the test's Redis and key prefix.

Each shell runs the scripts in completions/ with the test venv's bin first on PATH (so the scripts'
`jobctl` is this checkout's) and the test's environment (REDIS_URL, RQ_KEY_PREFIX, JOBCTL_HOME).
zsh and fish are the private ones of scripts/debs_local.py; without them these tests skip, saying why.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPLETIONS = ROOT / "completions"
ZSH_CAPTURE = Path(__file__).resolve().parent / "zsh_capture.zsh"
QUEUES = {"email-sending", "file-processing", "dead-letter"}  # some of the catalogue


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def bash_complete(shell, words: list[str], env: dict[str, str] | None = None) -> tuple[list[str], str]:
    """COMPREPLY after `_jobctl` for these words, the last one under the cursor; and stderr."""
    script = "\n".join(
        [
            f"source {_quote(str(COMPLETIONS / 'jobctl.bash'))}",
            "COMP_WORDS=(" + " ".join(_quote(w) for w in words) + ")",
            f"COMP_CWORD={len(words) - 1}",
            "COMP_LINE=" + _quote(" ".join(words)),
            "COMP_POINT=${#COMP_LINE}",
            "_jobctl",
            "printf '%s\\n' \"${COMPREPLY[@]}\"",
        ]
    )
    proc = subprocess.run(
        [shell.program, "--norc", "--noprofile", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=shell.env(env),
    )
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line], proc.stderr


def zsh_complete(shell, line: str, env: dict[str, str] | None = None) -> list[str]:
    """What zsh offers on TAB after `line` (tests/cli/zsh_capture.zsh: an interactive zsh in a pty)."""
    proc = subprocess.run(
        [shell.program, "-f", str(ZSH_CAPTURE), str(COMPLETIONS), line],
        capture_output=True,
        text=True,
        timeout=90,
        env=shell.env(env),
    )
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    return [m for m in proc.stdout.splitlines() if m]


def fish_complete(shell, line: str, env: dict[str, str] | None = None) -> tuple[list[str], str]:
    """`complete -C line` after sourcing the fish script: the candidates, without their descriptions."""
    script = f"source {_quote(str(COMPLETIONS / 'jobctl.fish'))}; complete -C {_quote(line)}"
    proc = subprocess.run(
        [shell.program, "--no-config", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=shell.env(env),
    )
    assert proc.returncode == 0, proc.stderr
    return [c.split("\t", 1)[0] for c in proc.stdout.splitlines() if c], proc.stderr


@pytest.fixture
def stored(cli):
    """A schedule and a token stored under the test's key prefix, which only this test's Redis holds."""
    cli("schedule", "add", "zz-nightly-cleanup", "--cron", "0 3 * * *", "--job", "noop")
    cli("token", "create", "grafana-ci", "--role", "viewer")
    return {"schedule": "zz-nightly-cleanup", "token": "grafana-ci"}


# --------------------------------------------------------------------------------------------
# bash


def test_bash_queue_argument(bash_shell):
    offered, err = bash_complete(bash_shell, ["jobctl", "clear", ""])
    assert set(offered) >= QUEUES, offered
    assert err == ""


def test_bash_queue_options(bash_shell):
    assert bash_complete(bash_shell, ["jobctl", "worker", "start", "--queue", "em"])[0] == ["email-sending"]
    assert bash_complete(bash_shell, ["jobctl", "stats", "-q", "pay"])[0] == ["payment-retry"]
    # --queue=value: bash splits it at '=' (COMP_WORDBREAKS)
    assert bash_complete(bash_shell, ["jobctl", "dlq", "list", "--queue", "=", "dead"])[0] == ["dead-letter"]


def test_bash_template(bash_shell):
    assert bash_complete(bash_shell, ["jobctl", "enqueue", "email", "--template", "w"])[0] == ["welcome"]
    assert bash_complete(bash_shell, ["jobctl", "email", "preview", "-t", "password-"])[0] == [
        "password-reset"
    ]


def test_bash_stored_names(bash_shell, stored):
    assert bash_complete(bash_shell, ["jobctl", "schedule", "pause", "zz"])[0] == [stored["schedule"]]
    offered = bash_complete(bash_shell, ["jobctl", "schedule", "run", ""])[0]
    assert stored["schedule"] in offered and "daily-reports" in offered
    assert bash_complete(bash_shell, ["jobctl", "token", "revoke", ""])[0] == [stored["token"]]


def test_bash_static_kinds(bash_shell):
    assert bash_complete(bash_shell, ["jobctl", "report", "generate", ""])[0] == ["daily", "weekly"]
    assert bash_complete(bash_shell, ["jobctl", "enqueue", "report", "w"])[0] == ["weekly"]
    assert bash_complete(bash_shell, ["jobctl", "enqueue", "job", "pay"])[0] == ["payment-retry"]
    assert bash_complete(bash_shell, ["jobctl", "clear", "x", "--priority", ""])[0] == [
        "high",
        "normal",
        "low",
    ]


def test_bash_redis_away(bash_shell):
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:9/0"}
    started = time.monotonic()
    offered, err = bash_complete(bash_shell, ["jobctl", "schedule", "pause", ""], env)
    took = time.monotonic() - started
    assert (offered, err) == ([], "")
    assert took < 5, f"{took:.2f}s"  # the completion itself ~0.2 s; bash start and source included


# --------------------------------------------------------------------------------------------
# zsh


def test_zsh_queues_and_templates(zsh_shell):
    assert set(zsh_complete(zsh_shell, "jobctl clear ")) >= QUEUES, "queue argument"
    assert zsh_complete(zsh_shell, "jobctl worker start --queue em") == ["email-sending"]
    assert zsh_complete(zsh_shell, "jobctl worker start --queue=pay") == ["payment-retry"]
    assert zsh_complete(zsh_shell, "jobctl enqueue email --template w") == ["welcome"]
    assert zsh_complete(zsh_shell, "jobctl enqueue email-bulk -t password-") == ["password-reset"]


def test_zsh_stored_names(zsh_shell, stored):
    assert zsh_complete(zsh_shell, "jobctl schedule pause zz") == [stored["schedule"]]
    assert zsh_complete(zsh_shell, "jobctl token revoke ") == [stored["token"]]


def test_zsh_redis_away(zsh_shell):
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:9/0"}
    assert zsh_complete(zsh_shell, "jobctl schedule pause ", env) == []


# --------------------------------------------------------------------------------------------
# fish


def test_fish_queues_and_templates(fish_shell):
    offered, err = fish_complete(fish_shell, "jobctl clear ")
    assert set(offered) >= QUEUES and err == "", (offered, err)
    assert fish_complete(fish_shell, "jobctl worker start --queue em")[0] == ["email-sending"]
    assert fish_complete(fish_shell, "jobctl enqueue email --template w")[0] == ["welcome"]
    assert fish_complete(fish_shell, "jobctl enqueue email --template=w")[0] == ["--template=welcome"]


def test_fish_stored_names(fish_shell, stored):
    assert fish_complete(fish_shell, "jobctl schedule pause zz")[0] == [stored["schedule"]]
    assert fish_complete(fish_shell, "jobctl token revoke ")[0] == [stored["token"]]


def test_fish_redis_away(fish_shell):
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:9/0"}
    assert fish_complete(fish_shell, "jobctl schedule pause ", env) == ([], "")
