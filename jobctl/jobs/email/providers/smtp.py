"""Provider `smtp`: smtplib with none/starttls/ssl, optional AUTH, and failures sorted for retries.

5xx replies (rejected recipient/sender, failed auth 535, refused data) are permanent; 4xx replies,
refused connections, timeouts and dropped connections are transient.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from typing import Any

from jobctl.errors import JobFailure, PermanentJobFailure, TransientJobFailure
from jobctl.jobs.email.message import envelope_recipients, envelope_sender
from jobctl.jobs.email.providers import redact


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _by_code(code: int, what: str) -> JobFailure:
    return PermanentJobFailure(what) if 500 <= code < 600 else TransientJobFailure(what)


def _classify(exc: Exception, server: str, settings) -> JobFailure:
    def reply(code: int, msg: bytes | str) -> str:
        return f"{code} {redact(_text(msg), settings)}"

    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{addr}: {reply(code, msg)}" for addr, (code, msg) in exc.recipients.items())
        cls = PermanentJobFailure if codes and all(c >= 500 for c in codes) else TransientJobFailure
        return cls(f"SMTP server {server} refused every recipient: {detail}")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return _by_code(
            exc.smtp_code,
            f"SMTP server {server} refused sender {exc.sender}: {reply(exc.smtp_code, exc.smtp_error)}",
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _by_code(
            exc.smtp_code,
            f"SMTP login as {settings.smtp_user!r} on {server} failed: "
            f"{reply(exc.smtp_code, exc.smtp_error)} "
            "(check SMTP_USER/SMTP_PASSWORD)",
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, f"SMTP server {server} replied {reply(exc.smtp_code, exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentJobFailure(
            f"SMTP server {server} does not support what is configured: "
            f"{redact(str(exc), settings)} (check JOBCTL_SMTP_SECURITY and SMTP_USER)"
        )
    if isinstance(exc, smtplib.SMTPException) and "authentication method" in str(exc):
        return PermanentJobFailure(
            f"SMTP server {server} offers no login method smtplib supports "
            f"(check SMTP_USER and JOBCTL_SMTP_SECURITY)"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientJobFailure(
            f"SMTP server {server} closed the connection: {redact(str(exc), settings)}"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentJobFailure(
            f"TLS certificate of SMTP server {server} is not trusted: {exc.verify_message}"
        )
    if isinstance(exc, TimeoutError | socket.timeout):
        return TransientJobFailure(f"SMTP server {server} timed out after {settings.smtp_timeout}s")
    if isinstance(exc, ConnectionRefusedError):
        return TransientJobFailure(f"SMTP server {server} refused the connection (is it running?)")
    if isinstance(exc, OSError):
        return TransientJobFailure(f"cannot talk to SMTP server {server}: {exc.strerror or exc}")
    return TransientJobFailure(f"SMTP error with {server}: {redact(str(exc), settings)}")


def _connect(settings) -> smtplib.SMTP:
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.smtp_timeout
    if settings.smtp_security == "ssl":
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    client = smtplib.SMTP(host, port, timeout=timeout)
    if settings.smtp_security == "starttls":
        client.ehlo()
        client.starttls(context=ssl.create_default_context())
        client.ehlo()
    return client


def send(message: EmailMessage, settings) -> dict:
    server = f"{settings.smtp_host}:{settings.smtp_port}"
    sender = envelope_sender(message).addr_spec
    recipients = [a.addr_spec for a in envelope_recipients(message)]
    client = None
    try:
        client = _connect(settings)
        if settings.smtp_user:
            client.login(settings.smtp_user, settings.smtp_password)
        refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
    except (smtplib.SMTPException, OSError) as exc:
        raise _classify(exc, server, settings) from None
    finally:
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
    result: dict[str, Any] = {"provider": "smtp", "message_id": str(message["Message-ID"]), "server": server}
    if refused:  # some recipients got it: retrying would send it twice, so report instead
        result["refused"] = {
            addr: f"{code} {redact(_text(msg), settings)}" for addr, (code, msg) in refused.items()
        }
    return result
