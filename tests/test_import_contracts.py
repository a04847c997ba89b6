"""The architecture's import rules, checked by import-linter on the whole import graph.

The contracts live in pyproject.toml ([tool.importlinter]); they read every module's imports,
those inside functions included, so no hand-kept list of modules to import can fall behind.
Run as a test, not as a separate step of dev.py, so that any pytest run over tests/ (CI's
`python3 dev.py test` included) checks them and a broken contract fails with its report.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
FACES = ("jobctl.__main__", "jobctl.cli", "jobctl.tui", "jobctl.http", "jobctl.web")


def lint_imports() -> str:
    # the venv's own script first: the test runs under the venv's python, maybe without it on PATH
    script = Path(sys.executable).parent / "lint-imports"
    command = str(script) if script.exists() else shutil.which("lint-imports")
    assert command, "lint-imports not found; install the test extra: pip install -e '.[test]'"
    # --no-cache: nothing written into the tree
    result = subprocess.run([command, "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_every_import_contract_is_kept():
    out = lint_imports()
    count = len(CONFIG["contracts"])
    assert f"Contracts: {count} kept, 0 broken." in out, out


def matches(module: str, expression: str) -> bool:
    # the two shapes the headless contract uses: a module, or "package.**" for all below it
    if expression.endswith(".**"):
        return module.startswith(expression[:-2])
    return module == expression


def modules() -> set[str]:
    """Every module of the package, from its files: jobctl/core/x.py is jobctl.core.x."""
    files = (ROOT / "jobctl").rglob("*.py")
    names = {".".join(path.relative_to(ROOT).with_suffix("").parts) for path in files}
    return {name.removesuffix(".__init__") for name in names}


def test_the_headless_contract_covers_every_module_but_the_faces():
    [headless] = [c for c in CONFIG["contracts"] if c["id"] == "headless"]
    found = modules()
    uncovered = sorted(
        m
        for m in found
        if not any(m == f or m.startswith(f"{f}.") for f in FACES)
        and not any(matches(m, e) for e in headless["source_modules"])
    )
    assert uncovered == [], f"add these to the headless contract's source_modules: {uncovered}"
    assert {"jobctl", "jobctl.core.scheduler", "jobctl.jobs.payments.providers.stripe"} <= found


def test_importing_every_headless_module_loads_no_ui_framework():
    """The contracts see jobctl's own imports; a library jobctl imports can still pull a framework in
    behind them (httpx imports its click/rich command-line tool when those are installed, see
    core/http_client.py). So every headless module is imported in a fresh interpreter too."""
    [headless] = [c for c in CONFIG["contracts"] if c["id"] == "headless"]
    names = sorted(m for m in modules() if not any(m == f or m.startswith(f"{f}.") for f in FACES))
    forbidden = headless["forbidden_modules"]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"headless modules loaded: {out.stdout.strip()}"
