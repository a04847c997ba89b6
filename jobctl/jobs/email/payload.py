"""The job payload: built and fully validated before it is queued, read back in the worker.

Schema (JSON): {"to": [address, ...], "template": name, "data": {...}, "subject": optional override,
"attachments": [{"filename", "content_type", "content_b64"}, ...]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobctl.core.contracts import split_scheduler_keys
from jobctl.errors import UsageError
from jobctl.jobs.email.addresses import normalize_recipients
from jobctl.jobs.email.attachments import Attachment, attachment_from_payload, human_size, read_attachment
from jobctl.jobs.email.message import sender_address
from jobctl.jobs.email.templates import render_email

MAX_DATA_BYTES = 256 * 1024
MIN_TOTAL_ATTACHMENTS = 25 * 1024**2  # what common mailboxes accept in one message
MAX_SUBJECT = 250
REBUILD = "build the payload with jobctl.jobs.email.prepare_email_payload"


@dataclass(frozen=True)
class EmailRequest:
    to: list[str]
    template: str
    data: dict[str, Any]
    subject: str | None = None
    attachments: list[Attachment] = field(default_factory=list)


def _json_data(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(
            f"email data must be an object of name -> value, got {type(data).__name__}",
            "give data as name -> value pairs",
        )
    for key, value in data.items():
        if not isinstance(key, str):
            raise UsageError(
                f"email data keys must be strings, got {key!r}", "give data as name -> value pairs"
            )
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise UsageError(
                f"email data {key!r} is not JSON-serialisable: {exc}",
                "use strings, numbers, booleans, lists and objects",
            ) from None
    text = json.dumps(data, allow_nan=False)
    if len(text.encode()) > MAX_DATA_BYTES:
        raise UsageError(
            f"email data is {len(text.encode())} bytes of JSON; the limit is {MAX_DATA_BYTES}",
            "pass references (ids, links) rather than content",
        )
    return json.loads(text)  # exactly what the worker will see (tuples become lists, ...)


def check_subject(subject: Any) -> str | None:
    if subject is None:
        return None
    if not isinstance(subject, str):
        raise UsageError(
            f"subject must be text, got {type(subject).__name__}", "give the subject as one line of text"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in subject):
        raise UsageError("subject must be one line without control characters", "remove line breaks")
    subject = " ".join(subject.split())
    if not subject:
        raise UsageError("subject is empty", "omit --subject to use the template's subject")
    if len(subject) > MAX_SUBJECT:
        raise UsageError(f"subject is {len(subject)} characters; the limit is {MAX_SUBJECT}", "shorten it")
    return subject


def _check_total(attachments: list[Attachment], limit: int) -> None:
    total_limit = max(MIN_TOTAL_ATTACHMENTS, limit)
    total = sum(len(a.content) for a in attachments)
    if total > total_limit:
        raise UsageError(
            f"attachments total {human_size(total)}; one email carries at most {human_size(total_limit)}",
            "send fewer files, or links",
        )


def prepare_email_payload(
    settings,
    *,
    to: str | list[str],
    template: str,
    data: dict | None = None,
    attachments: list[str | Path] | tuple = (),
    subject: str | None = None,
) -> dict[str, Any]:
    """Validate everything (addresses, template + data, subject, files) and return the job payload."""
    sender_address(settings)
    recipients = normalize_recipients(to)
    clean_data = _json_data(data)
    render_email(settings, template, clean_data)
    subject = check_subject(subject)
    if isinstance(attachments, str | Path):
        attachments = [attachments]
    files = [read_attachment(path, settings.max_attachment_size) for path in attachments]
    _check_total(files, settings.max_attachment_size)
    payload: dict[str, Any] = {"to": recipients, "template": template, "data": clean_data}
    if subject is not None:
        payload["subject"] = subject
    payload["attachments"] = [a.to_payload() for a in files]
    return payload


def load_email_payload(payload: Any) -> EmailRequest:
    """Read a queued payload back, re-checking what a hand-made payload could get wrong."""
    if not isinstance(payload, dict):
        raise UsageError(f"email payload must be an object, got {type(payload).__name__}", REBUILD)
    payload, _ = split_scheduler_keys(payload)
    unknown = sorted(set(payload) - {"to", "template", "data", "subject", "attachments"})
    if unknown:
        raise UsageError(f"unknown email payload key {unknown[0]!r}", REBUILD)
    if "to" not in payload or "template" not in payload:
        raise UsageError("email payload needs 'to' and 'template'", REBUILD)
    template = payload["template"]
    if not isinstance(template, str):
        raise UsageError(f"email template must be a name, got {template!r}", REBUILD)
    raw_attachments = payload.get("attachments") or []
    if not isinstance(raw_attachments, list):
        raise UsageError("email attachments must be a list", REBUILD)
    return EmailRequest(
        to=normalize_recipients(payload["to"]),
        template=template,
        data=_json_data(payload.get("data")),
        subject=check_subject(payload.get("subject")),
        attachments=[attachment_from_payload(a, n) for n, a in enumerate(raw_attachments, 1)],
    )
