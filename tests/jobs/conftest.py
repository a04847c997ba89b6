"""Mail servers for these tests live in tests/mail_servers.py so the e2e tests share them."""

from tests.mail_servers import *  # noqa: F401,F403
from tests.mail_servers import _smtp_controller  # noqa: F401
