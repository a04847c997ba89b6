"""deploy/docker: Docker does not run here, so the image is not built (README: untested). What is
checked: compose.yaml parses and names Redis (AOF on), workers, two schedulers and serve; every
command the Dockerfile and the compose file give jobctl exists in the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "deploy" / "docker"


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def instruction(name: str) -> list[str]:
    """A Dockerfile instruction in its JSON (exec) form."""
    [line] = [ln for ln in (DOCKER / "Dockerfile").read_text().splitlines() if ln.startswith(name + " ")]
    return json.loads(line.removeprefix(name + " "))


def test_compose_names_the_services():
    services = compose()["services"]
    assert set(services) == {"redis", "workers", "scheduler", "serve"}
    redis_command = services["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    assert services["scheduler"]["deploy"]["replicas"] == 2
    for name in ("workers", "scheduler", "serve"):
        service = services[name]
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert (DOCKER / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        assert service["stop_signal"] == "SIGTERM" and service["init"] is True


def test_the_commands_exist_in_the_cli(cli):
    assert instruction("ENTRYPOINT") == ["jobctl"]
    commands = [instruction("CMD")] + [
        s["command"] for name, s in compose()["services"].items() if name != "redis"
    ]
    assert len(commands) == 4
    for command in commands:
        cli(*command, "--help")  # an unknown command or option would be exit 2


def test_the_image_copies_what_the_package_needs():
    text = (DOCKER / "Dockerfile").read_text()
    for copied in ("pyproject.toml", "README.md", "jobctl"):
        assert (REPO / copied).exists() and copied in text
    assert "USER jobctl" in text and "STOPSIGNAL SIGTERM" in text
