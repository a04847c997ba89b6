"""`jobctl __complete KIND [PREFIX]` (jobctl.cli.completion): the names shell completion offers, and
which options and arguments are wired to it.

Run as the real console script (the scripts in completions/ run it on every TAB): only values on
stdout, nothing on stderr, quick, and empty rather than slow or noisy when Redis is away.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobctl.cli import completion

JOBCTL = str(Path(sys.executable).parent / "jobctl")


def _complete(*args: str, env: dict[str, str] | None = None) -> tuple[list[str], float]:
    started = time.monotonic()
    proc = subprocess.run(
        [JOBCTL, "__complete", *args], capture_output=True, text=True, timeout=30, env=env or dict(os.environ)
    )
    took = time.monotonic() - started
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr == "", proc.stderr
    return proc.stdout.splitlines(), took


def test_static_kinds_list_what_the_code_knows():
    from jobctl.core.catalog import PRIORITIES
    from jobctl.core.jobtypes import JOB_TYPES
    from jobctl.jobs.reports.data import KINDS

    assert _complete("priority")[0] == list(PRIORITIES)
    assert sorted(_complete("job-type")[0]) == sorted(JOB_TYPES)  # (other tests may add types here)
    assert _complete("report-kind")[0] == list(KINDS)
    assert _complete("report-kind", "w")[0] == ["weekly"]


def test_queues_are_the_catalogue(settings):
    from jobctl.core.catalog import queue_catalog

    names, _ = _complete("queue")
    assert names == list(queue_catalog(settings))
    assert "email-sending" in names and "dead-letter" in names
    assert _complete("queue", "pay")[0] == ["payment-retry"]


def test_templates_include_those_of_the_templates_dir(tmp_path):
    extra = tmp_path / "templates"
    extra.mkdir()
    (extra / "winter-sale.subject.txt").write_text("Sale\n")
    (extra / "winter-sale.txt").write_text("Hello\n")
    assert _complete("template", "w")[0] == ["welcome"]
    names, _ = _complete("template", "w", env={**os.environ, "JOBCTL_TEMPLATES_DIR": str(extra)})
    assert names == ["welcome", "winter-sale"]


def test_schedules_are_the_defaults_and_the_stored_ones(cli, settings):
    from jobctl.core.schedules import default_definitions

    cli("schedule", "add", "zz-nightly-cleanup", "--cron", "0 3 * * *", "--job", "noop")
    names, _ = _complete("schedule")
    assert names == sorted({*default_definitions(settings), "zz-nightly-cleanup"})
    assert _complete("schedule", "zz-")[0] == ["zz-nightly-cleanup"]


def test_tokens_are_the_stored_names_only_under_this_prefix(cli):
    assert _complete("token")[0] == []
    cli("token", "create", "grafana", "--role", "viewer")
    cli("token", "create", "ci-deploy", "--role", "operator")
    assert _complete("token")[0] == ["ci-deploy", "grafana"]
    assert _complete("token", "g")[0] == ["grafana"]
    # another RQ_KEY_PREFIX is another jobctl: none of these tokens
    assert (
        _complete("token", env={**os.environ, "RQ_KEY_PREFIX": os.environ["RQ_KEY_PREFIX"] + "-other"})[0]
        == []
    )


@pytest.mark.parametrize("kind", ["schedule", "token"])
def test_redis_away_means_nothing_quickly_and_quietly(kind):
    # a port nothing listens on: refused at once
    names, took = _complete(kind, env={**os.environ, "REDIS_URL": "redis://127.0.0.1:9/0"})
    assert names == []
    assert took < 3, f"{took:.2f}s"  # about 0.2 s here; generous for a loaded CI machine


def test_redis_that_never_answers_costs_at_most_the_timeout():
    # a routable address that drops packets would hang a plain client for its 5 s connect timeout;
    # 10.255.255.1 is reserved-looking private space with nothing on it
    names, took = _complete("token", env={**os.environ, "REDIS_URL": "redis://10.255.255.1:6379/0"})
    assert names == []
    assert took < completion.REDIS_TIMEOUT * 2 + 2.5, f"{took:.2f}s"


def test_the_embedded_server_is_never_started(jobctl_env):
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    for kind in ("schedule", "token"):
        assert _complete(kind, env=env)[0] == []
    assert not any(jobctl_env.iterdir()), list(jobctl_env.iterdir())  # no socket, pid file, data


def test_bad_settings_print_nothing(tmp_path):
    bad = tmp_path / "jobctl.toml"
    bad.write_text("this is [not toml\n")
    names, _ = _complete("queue", env={**os.environ, "JOBCTL_CONFIG": str(bad)})
    assert names == []


@pytest.mark.parametrize("args", [[], ["no-such-kind"], ["queue", "a", "b"]])
def test_a_bad_question_is_exit_2_and_silent(args):
    proc = subprocess.run([JOBCTL, "__complete", *args], capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", "")


def test_it_is_not_a_command_of_the_cli(cli):
    assert "__complete" not in cli("--help").stdout


def test_a_kind_must_be_known():
    with pytest.raises(ValueError, match="unknown completion kind"):
        completion.completer("queues")


# --------------------------------------------------------------------------------------------
# Wiring: every option or argument that takes one of these names completes them. Read from the
# click tree, so a new command with a --queue option (or a queue argument) cannot skip it.

# long option name -> kind
OPTION_KINDS = {
    "--queue": "queue",
    "--template": "template",
    "--priority": "priority",
    "--job": "job-type",
    "--kind": "report-kind",
}
# (command words, option) -> kind, where an option names a thing in that command only
COMMAND_OPTION_KINDS = {(("job", "search"), "--type"): "job-type", (("audit", "list"), "--type"): "job-type"}
# argument name -> kind, for every command
ARGUMENT_KINDS = {"queue": "queue", "job_type": "job-type"}
# argument `name` of a noun's commands names one of the noun's things; except where it creates one
NAMED_BY_NOUN = {"queue": "queue", "schedule": "schedule", "token": "token"}
CREATES = {"add", "create"}
# argument `kind` of these commands is a report kind
REPORT_KIND_COMMANDS = {("report", "generate"), ("enqueue", "report")}


def _params():
    """(command path, click parameter) for every visible parameter of the real CLI."""
    import typer.main

    from jobctl.cli.app import app

    out = []

    def visit(cmd, path: tuple[str, ...], parent) -> None:
        ctx = cmd.context_class(cmd, info_name=path[-1], parent=parent)
        for param in cmd.get_params(ctx):
            if not getattr(param, "hidden", False):
                out.append((path, param))
        if callable(getattr(cmd, "list_commands", None)):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None and not getattr(sub, "hidden", False):
                    visit(sub, (*path, name), ctx)

    visit(typer.main.get_command(app), ("jobctl",), None)
    return out


def _expected_kind(path: tuple[str, ...], param) -> str | None:
    words = path[1:]
    if param.param_type_name == "option":
        special = next(
            (COMMAND_OPTION_KINDS[(words, o)] for o in param.opts if (words, o) in COMMAND_OPTION_KINDS), None
        )
        return special or next((OPTION_KINDS[o] for o in param.opts if o in OPTION_KINDS), None)
    if param.name in ARGUMENT_KINDS:
        return ARGUMENT_KINDS[param.name]
    if param.name == "kind" and words in REPORT_KIND_COMMANDS:
        return "report-kind"
    if param.name == "name" and len(words) == 2 and words[0] in NAMED_BY_NOUN and words[1] not in CREATES:
        return NAMED_BY_NOUN[words[0]]
    return None


def test_every_option_and_argument_naming_a_thing_completes_it():
    params = _params()
    wrong = []
    for path, param in params:
        expected, declared = _expected_kind(path, param), completion.kind_of(param)
        if expected != declared:
            label = "/".join(param.opts) if param.param_type_name == "option" else param.name.upper()
            wrong.append(f"{' '.join(path)} {label}: expected {expected}, declared {declared}")
    assert not wrong, "declare autocompletion=completion.<KIND> on:\n" + "\n".join(wrong)
    wired = {completion.kind_of(p) for _, p in params} - {None}
    assert wired == set(completion.KINDS), "a kind no option uses"


def test_the_generated_scripts_ask_jobctl_for_each_wired_option():
    root = Path(__file__).resolve().parents[2]
    bash = (root / "completions" / "jobctl.bash").read_text()
    zsh = (root / "completions" / "_jobctl").read_text()
    fish = (root / "completions" / "jobctl.fish").read_text()
    for path, param in _params():
        kind = completion.kind_of(param)
        if kind is None:
            continue
        key = " ".join(path)
        if param.param_type_name == "option":
            for name in param.opts:
                arm = next(line for line in bash.splitlines() if f"'{key}|{name}'" in line)
                assert arm.endswith(f"echo 'names {kind}' ;;"), arm
            longs = [o for o in param.opts if o.startswith("--")]
            assert any(f"{o}=[" in zsh and f":_jobctl_names {kind}'" in zsh for o in longs), (key, longs)
        assert f"__complete {kind} " in fish
    assert "jobctl __complete" in bash.replace("command jobctl", "jobctl")
