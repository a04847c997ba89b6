"""deploy/systemd: `systemd-analyze verify` accepts every unit with no warning, their commands exist in
the CLI, the worker gives a warm stop time to finish, and the env file example is valid settings."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobctl.core.catalog import DEFAULT_CATALOG

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "deploy" / "systemd"
INSTALLED = "/usr/local/bin/jobctl"
NAMES = ["jobctl-worker@.service", "jobctl-scheduler@.service", "jobctl-serve.service"]


def service(name: str) -> dict[str, list[str]]:
    """The [Service] section, each key with all of its values."""
    parser = configparser.RawConfigParser(strict=False, dict_type=_MultiDict)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return {k: v.split("\n") for k, v in parser["Service"].items()}


class _MultiDict(dict):
    def __setitem__(self, key, value):
        if isinstance(value, list) and key in self:
            self[key].extend(value)  # a repeated key: keep every value
        else:
            super().__setitem__(key, value)


def test_units_are_there():
    assert sorted(p.name for p in UNITS.glob("*.service")) == sorted(NAMES)


def test_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
    if not os.access(analyze, os.X_OK):
        pytest.skip("systemd-analyze is not installed here")
    # ExecStart must name an executable that exists: the one this test environment installed
    jobctl = Path(sys.executable).with_name("jobctl")
    assert jobctl.exists()
    for name in NAMES:
        text = (UNITS / name).read_text()
        assert INSTALLED in text
        (tmp_path / name).write_text(text.replace(INSTALLED, str(jobctl)))
    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / n) for n in NAMES)], capture_output=True, text=True, timeout=60
    )
    if result.returncode and "Failed to" in result.stderr and "manager" in result.stderr.lower():
        pytest.skip(f"systemd-analyze cannot run here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # an unknown key or a bad value is only a warning

    # and it does catch a broken unit
    (tmp_path / "jobctl-serve.service").write_text(
        (UNITS / "jobctl-serve.service").read_text().replace(INSTALLED, str(tmp_path / "missing"))
    )
    broken = subprocess.run([analyze, "verify", str(tmp_path / "jobctl-serve.service")], capture_output=True)
    assert broken.returncode != 0


@pytest.mark.parametrize("name", NAMES)
def test_commands_exist_in_the_cli(cli, name):
    [start] = service(name)["ExecStart"]
    argv = shlex.split(start.replace("%i", "email-sending"))
    assert argv[0] == INSTALLED
    cli(*argv[1:], "--help")  # an unknown command or option would be exit 2


def test_worker_units_stop_warm_and_long_enough():
    worker = service("jobctl-worker@.service")
    assert worker["KillSignal"] == ["SIGTERM"] and worker["KillMode"] == ["mixed"]
    minutes = int(worker["TimeoutStopSec"][0].removesuffix("min"))
    longest = max(p.timeout or 0 for p in DEFAULT_CATALOG.values())
    assert minutes * 60 > longest  # the job in hand may run its whole timeout before the worker stops
    for name in NAMES:
        unit = service(name)
        assert unit["Restart"] == ["on-failure"] and unit["RestartPreventExitStatus"] == ["2"]
        assert unit["EnvironmentFile"] == ["/etc/jobctl/jobctl.env"] and unit["User"] == ["jobctl"]
        for key, value in {
            "NoNewPrivileges": "yes",
            "ProtectSystem": "strict",
            "PrivateTmp": "yes",
            "ReadWritePaths": "/var/lib/jobctl",
            "StateDirectory": "jobctl",
        }.items():
            assert unit[key] == [value], (name, key)
        assert unit["Environment"] == ["JOBCTL_HOME=/var/lib/jobctl"]


def test_the_env_file_example_is_valid_settings(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("REDIS_URL")
    example = UNITS / "jobctl.env.example"
    shown = cli.json("--env-file", str(example), "config", "show")
    values = {row["env"]: (row["value"], row["source"]) for row in shown["settings"]}
    assert values["REDIS_URL"][1].startswith(".env") and "change-me" not in values["REDIS_URL"][0]
    assert values["REDIS_PASSWORD"] == ("********", values["REDIS_PASSWORD"][1])
