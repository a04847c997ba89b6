"""The email job's contract: its fields, one payload built per request, and many per bulk call.

Its own module because the bulk builder (jobctl.jobs.email.bulk) builds on payload.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from jobctl.core.contracts import BuildContext, Contract, Field, normalize
from jobctl.jobs.email.payload import load_email_payload, prepare_email_payload

TEMPLATES_PER_CALL = 16  # EmailRows kept per bulk call (one per template, subject and attachments)


def _build(settings, fields: dict[str, Any], _context: BuildContext) -> dict[str, Any]:
    return prepare_email_payload(settings, **fields)


def _bulk(settings, _context: BuildContext) -> Callable[[Mapping[str, Any] | None], dict[str, Any]]:
    """Many rows of one call: each row's fields read by the contract, then built by the EmailRows of
    its template (and subject and attachments), which checks the template once, not once a row."""
    # lazy: the template analysis (Jinja2's AST walk) is for bulk calls only: a single email skips it
    from jobctl.jobs.email.bulk import EmailRows

    makers: dict[tuple, EmailRows] = {}

    def build(fields: Mapping[str, Any] | None) -> dict[str, Any]:
        if _plain_row(fields):  # what normalize would make of it, without its per-field work
            row = cast(dict[str, Any], fields)
            to, key, data = row["to"].strip(), (row["template"], None, ()), row.get("data") or {}
        else:
            clean = normalize(CONTRACT, fields)
            if "to" not in clean or "template" not in clean:  # the contract's own message for it
                return prepare_email_payload(settings, **clean)
            to = clean["to"]
            if isinstance(to, list) and len(to) == 1 and isinstance(to[0], str):
                to = to[0]  # one address: EmailRows' fast check for a plain one
            key = (clean["template"], clean.get("subject"), tuple(clean.get("attachments") or ()))
            data = clean.get("data") or {}
        maker = makers.get(key)
        if maker is None:
            if len(makers) >= TEMPLATES_PER_CALL:
                makers.clear()
            maker = makers[key] = EmailRows(settings, key[0], None, subject=key[1], attachments=key[2])
        return maker.payload(to, data)

    return build


def _plain_row(fields: Mapping[str, Any] | None) -> bool:
    """A bulk row as the API and the CLI make them: one address as text, a template name, data."""
    return (
        type(fields) is dict
        and fields.keys() <= _ROW_KEYS
        and type(fields.get("to")) is str
        and "," not in fields["to"]
        and bool(fields["to"].strip())
        and type(fields.get("template")) is str
        and type(fields.get("data", {})) is dict
    )


_ROW_KEYS = {"to", "template", "data"}


CONTRACT = Contract(
    "email",
    (
        Field("to", "list", True, "recipient address(es)", recipient=True),
        Field("template", "text", True, "template name (jobctl email templates)"),
        Field("data", "object", False, "template variables; other keys given with the fields land here too"),
        Field("subject", "text", False, "overrides the template's subject"),
        Field("attachments", "list", False, "paths of files to attach, read when the job is enqueued"),
    ),
    build=_build,
    bulk=_bulk,
    load=load_email_payload,
    describe=lambda payload: f"email {payload['template']}",
    extra="data",
)
