"""prepare_email_payload and read_recipients_csv: everything is checked before it is queued."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime

import pytest

from jobctl.config import load_settings
from jobctl.errors import UsageError
from jobctl.jobs.email import prepare_email_payload, read_recipients_csv


@pytest.fixture
def welcome(sample_data):
    return sample_data["welcome"]


def test_payload_schema_is_json_with_embedded_attachments(settings, welcome, tmp_path):
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.4 fake")
    payload = prepare_email_payload(
        settings,
        to="ada@example.com",
        template="welcome",
        data=welcome,
        attachments=[pdf],
        subject="  Hello   there ",
    )
    assert json.loads(json.dumps(payload)) == payload
    assert payload == {
        "to": ["ada@example.com"],
        "template": "welcome",
        "data": welcome,
        "subject": "Hello there",
        "attachments": [
            {
                "filename": "invoice.pdf",
                "content_type": "application/pdf",
                "content_b64": base64.b64encode(b"%PDF-1.4 fake").decode(),
            }
        ],
    }


def test_payload_without_subject_or_attachments(settings, welcome):
    payload = prepare_email_payload(settings, to=["ada@example.com"], template="welcome", data=welcome)
    assert payload == {"to": ["ada@example.com"], "template": "welcome", "data": welcome, "attachments": []}


@pytest.mark.parametrize(
    "to, expected",
    [
        ("Ada@Example.COM", ["Ada@example.com"]),
        ("Ada Lovelace <ada@example.com>", ["Ada Lovelace <ada@example.com>"]),
        (
            '"Lovelace, Ada" <ada@example.com>, bob@example.org',
            ['"Lovelace, Ada" <ada@example.com>', "bob@example.org"],
        ),
        (
            ["a@example.com", "A@EXAMPLE.com", "b.c+tag@sub.example.co.uk"],
            ["a@example.com", "b.c+tag@sub.example.co.uk"],
        ),
        ("jo@bücher.example", ["jo@xn--bcher-kva.example"]),
    ],
)
def test_addresses_are_normalised(settings, welcome, to, expected):
    payload = prepare_email_payload(settings, to=to, template="welcome", data=welcome)
    assert payload["to"] == expected


@pytest.mark.parametrize(
    "bad",
    [
        "ada",
        "ada@",
        "@example.com",
        "ada@@example.com",
        "ada@exa@mple.com",
        "ada@localhost",
        "ada lovelace@example.com",
        "ada@example .com",
        "ada@example.com\nBcc: x@evil.com",
        "ada@-bad-.com",
        "ada..x@example.com",
        ".ada@example.com",
        "ada@example.c0m",
        "ada@exa_mple.com",
        "Ada <ada>",
        "",
    ],
)
def test_bad_addresses_are_rejected_by_name(settings, welcome, bad):
    with pytest.raises(UsageError) as info:
        prepare_email_payload(settings, to=["ok@example.com", bad], template="welcome", data=welcome)
    assert info.value.message.startswith(f"invalid email address {bad!r}")
    assert "name@example.com" in info.value.hint


def test_no_recipients(settings, welcome):
    for to in ([], "", " , "):
        with pytest.raises(UsageError, match="no recipient"):
            prepare_email_payload(settings, to=to, template="welcome", data=welcome)


def test_template_and_data_are_checked_before_queueing(settings, welcome):
    with pytest.raises(UsageError, match="unknown email template 'nope'"):
        prepare_email_payload(settings, to="a@example.com", template="nope", data=welcome)
    with pytest.raises(UsageError, match="needs variable 'login_url'"):
        prepare_email_payload(settings, to="a@example.com", template="welcome", data={"name": "Ada"})


def test_data_must_be_json(settings, welcome):
    with pytest.raises(UsageError, match="email data 'when' is not JSON-serialisable"):
        prepare_email_payload(
            settings, to="a@example.com", template="welcome", data=welcome | {"when": datetime(2025, 1, 1)}
        )
    with pytest.raises(UsageError, match="is not JSON-serialisable"):
        prepare_email_payload(
            settings, to="a@example.com", template="welcome", data=welcome | {"x": float("nan")}
        )
    with pytest.raises(UsageError, match="keys must be strings"):
        prepare_email_payload(settings, to="a@example.com", template="welcome", data={**welcome, 1: "x"})


def test_bad_subject_override(settings, welcome):
    with pytest.raises(UsageError, match="one line"):
        prepare_email_payload(
            settings, to="a@example.com", template="welcome", data=welcome, subject="Hi\r\nBcc: x@evil.com"
        )


def test_missing_attachment_is_named(settings, welcome):
    with pytest.raises(UsageError, match=re.escape("attachment 'nothere.pdf' does not exist")):
        prepare_email_payload(
            settings, to="a@example.com", template="welcome", data=welcome, attachments=["nothere.pdf"]
        )


def test_oversized_attachment_names_file_size_and_limit(monkeypatch, welcome, tmp_path):
    monkeypatch.setenv("JOBCTL_MAX_ATTACHMENT_SIZE", "1k")
    settings = load_settings()
    (tmp_path / "ok.txt").write_bytes(b"x" * 1024)
    (tmp_path / "big.bin").write_bytes(b"x" * 1025)
    prepare_email_payload(
        settings, to="a@example.com", template="welcome", data=welcome, attachments=[tmp_path / "ok.txt"]
    )
    with pytest.raises(UsageError) as info:
        prepare_email_payload(
            settings,
            to="a@example.com",
            template="welcome",
            data=welcome,
            attachments=[tmp_path / "ok.txt", tmp_path / "big.bin"],
        )
    assert info.value.message == (
        "attachment 'big.bin' is 1.0 KiB (1025 bytes); the limit is 1.0 KiB (1024 bytes)"
    )
    assert "JOBCTL_MAX_ATTACHMENT_SIZE" in info.value.hint


def test_directory_is_not_an_attachment(settings, welcome, tmp_path):
    with pytest.raises(UsageError, match="is not a regular file"):
        prepare_email_payload(
            settings, to="a@example.com", template="welcome", data=welcome, attachments=[tmp_path]
        )


def test_invalid_sender_setting_is_a_config_error(monkeypatch, welcome):
    monkeypatch.setenv("EMAIL_FROM", "not an address")
    with pytest.raises(UsageError, match="EMAIL_FROM is not a valid sender"):
        prepare_email_payload(load_settings(), to="a@example.com", template="welcome", data=welcome)


# --- CSV recipients ---------------------------------------------------------------------------


def _csv(tmp_path, text: str, name="people.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_rows_become_address_and_data(tmp_path):
    path = _csv(
        tmp_path,
        '\ufeffEmail,name,city\nada@example.com,Ada,London\n\n"Bob <bob@example.org>","Bob, Jr.",Paris\n',
    )
    assert read_recipients_csv(path) == [
        ("ada@example.com", {"name": "Ada", "city": "London"}),
        ("Bob <bob@example.org>", {"name": "Bob, Jr.", "city": "Paris"}),
    ]


def test_csv_to_column_is_accepted(tmp_path):
    path = _csv(tmp_path, "to,name\nada@example.com,Ada\n")
    assert read_recipients_csv(path) == [("ada@example.com", {"name": "Ada"})]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty"),
        ("name,city\nAda,London\n", "has no 'email' column (columns: name, city)"),
        ("email,to\na@example.com,b@example.com\n", "both 'email' and 'to'"),
        ("email,name,name\na@example.com,A,B\n", "column 'name' appears twice"),
        ("email,name\na@example.com,Ada\nb@example.com\n", "line 3: 1 fields, the header has 2"),
        (
            "email,name\na@example.com,Ada\nnot-an-address,Bob\n",
            "line 3: invalid email address 'not-an-address'",
        ),
        ("email,name\n", "has no recipients"),
    ],
)
def test_bad_csv_is_a_usage_error_naming_the_line(tmp_path, text, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_recipients_csv(_csv(tmp_path, text))


def test_missing_or_binary_csv(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        read_recipients_csv(tmp_path / "missing.csv")
    (tmp_path / "bin.csv").write_bytes(b"email\n\xff\xfe\x00bad\n")
    with pytest.raises(UsageError, match="not UTF-8"):
        read_recipients_csv(tmp_path / "bin.csv")
