"""Servers for the email tests (fixtures from tests/servers.py, shared with other test folders)."""

from tests.servers import *  # noqa: F403
from tests.servers import _smtp_controller  # noqa: F401
