"""Delivery providers. Each module has `send(message: EmailMessage, settings) -> dict` returning at
least {"provider", "message_id"} and raising Permanent/TransientJobFailure; messages carry no secrets.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from email.message import EmailMessage

from jobctl.errors import PermanentJobFailure

PROVIDERS = ("outbox", "smtp", "sendgrid")
Send = Callable[[EmailMessage, object], dict]


def get_provider(name: str) -> Send:
    if name not in PROVIDERS:
        raise PermanentJobFailure(
            f"unknown email provider {name!r} (EMAIL_PROVIDER); use one of {', '.join(PROVIDERS)}"
        )
    return importlib.import_module(f"jobctl.jobs.email.providers.{name}").send


def redact(text: str, settings, limit: int = 300) -> str:
    """Remove configured secrets from a server's reply and cut it to `limit` characters."""
    for secret in (settings.smtp_password, settings.sendgrid_api_key, settings.redis_password):
        if secret and len(secret) >= 3:
            text = text.replace(secret, "********")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
