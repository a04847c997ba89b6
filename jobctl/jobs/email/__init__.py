"""Templated email: render, validate a request before it is queued, and send it from a worker.

`prepare_email_payload` runs where the job is enqueued and rejects bad input with UsageError;
`send_email` is the RQ job function and reports failures as Permanent/TransientJobFailure.
"""

from jobctl.jobs.email.job import send_email
from jobctl.jobs.email.payload import prepare_email_payload
from jobctl.jobs.email.recipients import iter_recipients_csv, read_recipients_csv
from jobctl.jobs.email.templates import RenderedEmail, list_templates, render_email

__all__ = [
    "RenderedEmail",
    "iter_recipients_csv",
    "list_templates",
    "prepare_email_payload",
    "read_recipients_csv",
    "render_email",
    "send_email",
]
