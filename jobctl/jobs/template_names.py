"""The email templates' names, from their files' names alone: shell completion asks on every TAB.

Outside jobctl.jobs.email on purpose: importing anything in that package loads the email job and
Jinja2. A template NAME is the file NAME.subject.txt, in JOBCTL_TEMPLATES_DIR or among the built-ins
(jobctl/jobs/email/templates), as jobctl.jobs.email.templates reads them;
tests/jobs/email/test_template_names.py checks that both give the same names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jobctl.errors import ConfigError

BUILT_IN_DIR = Path(__file__).resolve().parent / "email" / "templates"
_SUBJECT_FILE_RE = re.compile(r"([A-Za-z0-9][A-Za-z0-9_-]*)\.subject\.txt")


def _names_in(folder: Path) -> set[str]:
    try:
        return {m.group(1) for entry in folder.iterdir() if (m := _SUBJECT_FILE_RE.fullmatch(entry.name))}
    except OSError:
        return set()


def template_names(settings: Any) -> list[str]:
    """The built-in and JOBCTL_TEMPLATES_DIR templates' names, sorted."""
    names = _names_in(BUILT_IN_DIR)
    if settings.templates_dir:
        folder = Path(settings.templates_dir).expanduser()
        if not folder.is_dir():
            raise ConfigError(
                f"templates dir {settings.templates_dir} is not a directory",
                "fix or unset JOBCTL_TEMPLATES_DIR",
            )
        names |= _names_in(folder)
    return sorted(names)
