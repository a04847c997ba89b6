"""Build the MIME message a provider sends: text + HTML alternatives, attachments, headers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import lru_cache

from jobctl.errors import ConfigError, UsageError
from jobctl.jobs.email.addresses import parse_address
from jobctl.jobs.email.attachments import Attachment
from jobctl.jobs.email.templates import RenderedEmail

TEMPLATE_HEADER = "X-Jobctl-Template"
_parse_sender = lru_cache(maxsize=8)(parse_address)


def sender_address(settings) -> Address:
    try:
        return _parse_sender(settings.email_from)
    except UsageError as exc:
        raise ConfigError(
            f"EMAIL_FROM is not a valid sender: {exc.message}",
            "set EMAIL_FROM to e.g. 'Marketplace <no-reply@example.com>'",
        ) from None


def new_message_id(settings, unique: str | None = None) -> str:
    """`<unique@sender-domain>`; a stable `unique` (the job id) keeps the id across retries."""
    domain = sender_address(settings).domain
    return f"<jobctl.{unique}@{domain}>" if unique else make_msgid("jobctl", domain=domain)


def build_message(
    settings,
    rendered: RenderedEmail,
    to: list[str],
    *,
    template: str,
    attachments: Sequence[Attachment] = (),
    message_id: str | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender_address(settings)
    message["To"] = ", ".join(to)
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id or new_message_id(settings)
    message[TEMPLATE_HEADER] = template
    message.set_content(rendered.text)
    if rendered.html is not None:
        message.add_alternative(rendered.html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message


def envelope_sender(message: EmailMessage) -> Address:
    return message["From"].addresses[0]


def envelope_recipients(message: EmailMessage) -> list[Address]:
    headers = [message[name] for name in ("To", "Cc", "Bcc") if message[name]]
    return [address for header in headers for address in header.addresses]
