"""The web dashboard at /admin/jobs: server-rendered pages over the same core reads and actions as the
CLI and the terminal dashboard, served by `jobctl serve` (jobctl.http.app installs it).

A face like cli, tui and http: it parses, calls core, renders. Sign-in exchanges an API token for a
server-side session (jobctl.web.sessions); every page and action checks the role on the server.
"""

from __future__ import annotations

from jobctl.web.pages import install

__all__ = ["install"]
