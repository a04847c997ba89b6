"""The RQ job function: `send_email(payload)` runs in a worker with the process's settings."""

from __future__ import annotations

from dataclasses import replace

from rq import get_current_job

from jobctl.core import runtime
from jobctl.errors import JobctlError, PermanentJobFailure
from jobctl.jobs.email.message import build_message, new_message_id
from jobctl.jobs.email.payload import load_email_payload
from jobctl.jobs.email.providers import get_provider
from jobctl.jobs.email.templates import render_email


def _current_job_id() -> str | None:
    try:
        job = get_current_job()
    except Exception:  # noqa: BLE001 - outside a worker: a random id is fine
        return None
    return job.id if job is not None else None


def send_email(payload: dict) -> dict:
    """Render the payload's template, send it with EMAIL_PROVIDER, and say what was sent.

    Bad payloads, unknown templates and missing data are PermanentJobFailure (retrying cannot
    help); providers raise Transient/PermanentJobFailure for delivery problems.
    """
    settings = runtime.settings()
    try:
        request = load_email_payload(payload)
        rendered = render_email(settings, request.template, request.data)
        if request.subject:
            rendered = replace(rendered, subject=request.subject)
        message = build_message(
            settings,
            rendered,
            request.to,
            template=request.template,
            attachments=request.attachments,
            message_id=new_message_id(settings, _current_job_id()),
        )
    except JobctlError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        raise PermanentJobFailure(f"{exc.message}{hint}") from None
    result = get_provider(settings.email_provider)(message, settings)
    provider, message_id = result.pop("provider"), result.pop("message_id")
    return {
        "provider": provider,
        "message_id": message_id,
        "to": request.to,
        "template": request.template,
        **result,
    }
