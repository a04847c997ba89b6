"""Real SMTP server, webhook receiver and helpers for the alert tests (fixtures from tests/servers.py)."""

from tests.servers import _smtp_controller, closed_port, configure, smtp_server, webhook  # noqa: F401
