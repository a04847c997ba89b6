"""Fixtures of the CLI tests: the shells the completion scripts are tried in.

bash is the machine's own; zsh and fish come from .venv/zsh and .venv/fish, unpacked from Debian's
packages by scripts/debs_local.py (`python3 dev.py test` runs it), or from PATH when installed. A
test asking for a shell that is not there skips, saying why.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Shell:
    name: str  # bash, zsh, fish
    program: str
    environ: dict[str, str]  # what the shell needs to start (LD_LIBRARY_PATH for a private one)
    modules: str = ""  # zsh: its module_path, when unpacked outside /usr
    functions: str = ""  # zsh: its functions folder, when unpacked outside /usr

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (os.environ) with this shell's needs and the test venv's bin first on PATH, so the
        completion scripts' `jobctl __complete` is this checkout's, with the test's REDIS_URL and prefix."""
        env = dict(os.environ if base is None else base)
        if "LD_LIBRARY_PATH" in self.environ:
            env["LD_LIBRARY_PATH"] = self.environ["LD_LIBRARY_PATH"]
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        if self.modules:
            env["JOBCTL_ZSH_MODULES"] = self.modules
        if self.functions:
            env["JOBCTL_ZSH_FUNCTIONS"] = self.functions
        if self.name == "zsh":
            env["JOBCTL_ZSH"] = self.program  # the zsh that tests/cli/zsh_capture.zsh starts in its pty
        return env


def _debs_local():
    if "debs_local" in sys.modules:  # loaded already (scripts/clamav_local.py imports it too)
        return sys.modules["debs_local"]
    spec = importlib.util.spec_from_file_location("debs_local", ROOT / "scripts" / "debs_local.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["debs_local"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def find_shell(name: str) -> Shell | str:
    """The private shell when installed, else the system's, else why there is none."""
    local = _debs_local()
    bundle = local.BUNDLES[name]
    reason = local.unavailable_reason(bundle)
    if reason is None:
        root = bundle.home / "root"
        env = local.environ(bundle.home, {})
        if name == "zsh":
            modules = sorted((root / "usr" / "lib").glob("*-linux-*/zsh/*"))
            return Shell(
                name,
                str(local.program_path(bundle)),
                env,
                modules=str(modules[-1]) if modules else "",
                functions=str(root / "usr" / "share" / "zsh" / "functions"),
            )
        return Shell(name, str(local.program_path(bundle)), env)
    found = shutil.which(name)
    return Shell(name, found, {}) if found else reason


def _shell(name: str) -> Shell:
    found = find_shell(name)
    if isinstance(found, str):
        pytest.skip(found)
    return found


@pytest.fixture(scope="session")
def bash_shell() -> Shell:
    found = shutil.which("bash")
    if not found:
        pytest.skip("bash not installed")
    return Shell("bash", found, {})


@pytest.fixture(scope="session")
def zsh_shell() -> Shell:
    return _shell("zsh")


@pytest.fixture(scope="session")
def fish_shell() -> Shell:
    return _shell("fish")
