"""Mail servers (aiosmtpd, fake SendGrid) shared with tests/jobs, for the alert tests' email path."""

from tests.mail_servers import *
from tests.mail_servers import _smtp_controller  # noqa: F401
