"""Every leaf command has examples, each one names that command and parses against the live command
tree (an option that was renamed or removed fails here), and `--help` shows them."""

from __future__ import annotations

import shlex

import pytest
import typer
from typer.testing import CliRunner

from jobctl.cli.app import app
from jobctl.cli.examples import EXAMPLES

ROOT = typer.main.get_command(app)


def _leaves(command, path: tuple[str, ...] = ()):
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield " ".join(path)
        return
    for name, sub in sorted(subcommands.items()):
        yield from _leaves(sub, (*path, name))


LEAVES = list(_leaves(ROOT))
ALL_EXAMPLES = [(key, example) for key in LEAVES for example in EXAMPLES.get(key, ())]


def _resolve(args: list[str]):
    """Parse a command line down to its leaf as click would run it, without running it: every
    option and argument is checked (make_context raises on an unknown option or a bad value)."""
    ctx = ROOT.make_context("jobctl", args, resilient_parsing=False)
    command = ROOT
    while getattr(command, "commands", None) is not None:
        rest = [*ctx._protected_args, *ctx.args]
        name, command, rest = command.resolve_command(ctx, rest)
        ctx = command.make_context(name, rest, parent=ctx, resilient_parsing=False)
    return ctx


def test_the_walk_finds_the_leaves():
    assert "dlq retry" in LEAVES and "stats" in LEAVES and "enqueue email" in LEAVES
    assert "dlq" not in LEAVES


@pytest.mark.parametrize("key", LEAVES)
def test_every_leaf_command_has_one_to_three_examples(key):
    assert 1 <= len(EXAMPLES.get(key, ())) <= 3


def test_no_examples_for_a_command_that_does_not_exist():
    assert set(EXAMPLES) <= set(LEAVES)


@pytest.mark.parametrize(("key", "example"), ALL_EXAMPLES, ids=lambda v: getattr(v, "command", v))
def test_an_example_names_its_command_and_parses(key, example):
    words = shlex.split(example.command)
    assert words[: 1 + len(key.split())] == ["jobctl", *key.split()]
    assert example.does and "\n" not in example.does
    ctx = _resolve(words[1:])
    assert ctx.command_path == " ".join(words[: 1 + len(key.split())])


def test_an_example_with_an_unknown_option_does_not_parse():
    with pytest.raises(Exception, match="No such option: --queues"):
        _resolve(["dlq", "retry", "--queues", "email-sending"])


@pytest.mark.parametrize("key", LEAVES)
def test_help_ends_with_the_examples(key):
    result = CliRunner().invoke(app, [*key.split(), "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    examples = result.output.split("Examples:\n", 1)[1]
    for example in EXAMPLES[key]:
        assert f"  # {example.does}\n  {example.command}\n" in examples
