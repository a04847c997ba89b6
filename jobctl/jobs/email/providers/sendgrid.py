"""Provider `sendgrid`: POST {sendgrid_url}/v3/mail/send with the v3 JSON body, via core/http_client.

2xx is success (message id from X-Message-Id); 408, 429, 5xx and network errors are transient;
other 4xx (bad request, bad key, payload too large) are permanent.
"""

from __future__ import annotations

import base64
import json
from email.message import EmailMessage, Message
from typing import cast
from urllib.parse import urlsplit

from jobctl.config import mask_url
from jobctl.core import http_client
from jobctl.errors import JobFailure, PermanentJobFailure, TransientJobFailure
from jobctl.jobs.email.message import TEMPLATE_HEADER, envelope_recipients, envelope_sender
from jobctl.jobs.email.providers import redact

TIMEOUT = 30
PATH = "/v3/mail/send"


def _base64(part: Message) -> str:
    """An attachment's content, base64-encoded as SendGrid takes it."""
    # typeshed allows a Message too, which a decoded payload never is (a multipart part gives None)
    payload = cast("bytes | None", part.get_payload(decode=True))
    return base64.b64encode(payload or b"").decode("ascii")


def _person(address) -> dict:
    person = {"email": address.addr_spec}
    if address.display_name:
        person["name"] = address.display_name
    return person


def build_body(message: EmailMessage) -> dict:
    """The v3 mail-send JSON for a message built by jobctl.jobs.email.message.build_message."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    content = [{"type": "text/plain", "value": text.get_content()}] if text is not None else []
    if html is not None:
        content.append({"type": "text/html", "value": html.get_content()})
    body = {
        "personalizations": [{"to": [_person(a) for a in envelope_recipients(message)]}],
        "from": _person(envelope_sender(message)),
        "subject": str(message["Subject"]),
        "content": content,
        "headers": {TEMPLATE_HEADER: str(message[TEMPLATE_HEADER] or "")},
        "custom_args": {"message_id": str(message["Message-ID"])},
    }
    attachments = [
        {
            "content": _base64(part),
            "type": part.get_content_type(),
            "filename": part.get_filename() or "attachment",
            "disposition": "attachment",
        }
        for part in message.iter_attachments()
    ]
    if attachments:
        body["attachments"] = attachments
    return body


def _error_text(raw: bytes, settings) -> str:
    text = raw.decode("utf-8", "replace")
    try:
        errors = json.loads(text).get("errors") or []
        text = (
            "; ".join(
                f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
                for e in errors
                if isinstance(e, dict)
            )
            or text
        )
    except (ValueError, AttributeError):
        pass
    return redact(text, settings) or "(no details)"


def _http_failure(status: int, reason: str, detail: str) -> JobFailure:
    what = f"SendGrid replied {status} {reason}: {detail}"
    if status in (401, 403):
        return PermanentJobFailure(what + " (check SENDGRID_API_KEY and its mail-send permission)")
    if status in (408, 429) or status >= 500:
        return TransientJobFailure(what)
    return PermanentJobFailure(what)


def send(message: EmailMessage, settings) -> dict:
    if not settings.sendgrid_api_key:
        raise PermanentJobFailure(
            "SENDGRID_API_KEY is not set: set it for the workers, or use EMAIL_PROVIDER=outbox/smtp"
        )
    base = settings.sendgrid_url.rstrip("/")
    if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc:
        raise PermanentJobFailure(f"JOBCTL_SENDGRID_URL {mask_url(repr(base))} is not an http(s) URL")
    where = f"SendGrid at {mask_url(base)}"
    try:
        answer = http_client.request(
            "POST",
            base + PATH,
            timeout=TIMEOUT,
            max_body=64 * 1024,
            content=json.dumps(build_body(message)).encode("utf-8"),
            headers={
                "Authorization": f"Bearer {settings.sendgrid_api_key}",
                "Content-Type": "application/json",
            },
        )
    except http_client.TimedOut:
        raise TransientJobFailure(f"{where} timed out after {TIMEOUT}s") from None
    except http_client.Unreachable as exc:
        raise TransientJobFailure(f"cannot reach {where}: {exc.reason}") from None
    except http_client.BrokenOff as exc:
        raise TransientJobFailure(f"bad HTTP response from {where}: {exc.kind}: {exc.reason}") from None
    except http_client.Unsendable as exc:
        raise PermanentJobFailure(
            f"cannot send to {where}: {exc.reason} (check JOBCTL_SENDGRID_URL "
            "and SENDGRID_API_KEY for stray characters)"
        ) from None
    if not 200 <= answer.status < 300:
        raise _http_failure(answer.status, answer.reason, _error_text(answer.body, settings))
    provider_id = answer.headers.get("X-Message-Id") or str(message["Message-ID"])
    return {"provider": "sendgrid", "message_id": provider_id, "status": answer.status}
