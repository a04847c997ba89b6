from __future__ import annotations

import subprocess
import sys


def test_the_http_face_uses_the_core_never_the_cli():
    code = ("import sys, jobctl.http\n"
            "print(','.join(sorted(m for m in sys.modules if m.startswith('jobctl.cli') or m.split('.')[0] in "
            "{'typer', 'click', 'rich', 'textual'})))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"jobctl.http imported CLI/TUI modules: {out}"
