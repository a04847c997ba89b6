"""The `jobctl` console script.

`jobctl __complete KIND [PREFIX]` (the shell scripts' question on every TAB) is answered by
jobctl.cli.completion without loading the CLI, and `jobctl --version` from jobctl.__version__
without loading typer; every other command line runs the Typer app.
"""

from __future__ import annotations

import sys

from jobctl import __version__
from jobctl.cli import completion  # the standard library alone at import: cheap for every command


def main() -> None:
    if sys.argv[1:2] == [completion.COMMAND]:
        sys.exit(completion.main(sys.argv[2:]))
    if sys.argv[1:] == ["--version"]:  # exactly that: with other options typer answers (app.py)
        sys.stdout.write(f"jobctl {__version__}\n")
        return
    # lazy: a TAB must not pay for importing every command (typer, rich and the CLI modules)
    from jobctl.cli.app import main as run_app

    run_app()
