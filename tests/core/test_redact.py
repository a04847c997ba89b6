"""Redaction of what faces show: addresses, card numbers, secrets by key name, tokens."""

from __future__ import annotations

import pytest

from jobctl.core.redact import MASK, luhn_ok, redact, redact_fields, redact_text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("send to ann.lee@example.com now", "send to a***@example.com now"),
        ("<Bob.Smith+tag@mail.example.co.uk>", "<B***@mail.example.co.uk>"),
        ("card 4242 4242 4242 4242 declined", "card **** **** **** 4242 declined"),
        ("card 4242-4242-4242-4242", "card **** **** **** 4242"),
        ("pan=4000056655665556;", "pan=**** **** **** 5556;"),
        ("amex 3782 822463 10005", "amex **** **** **** 0005"),
        ("key jct_9f8e7d6c5b4a and sk_live_51Habcdefghij", "key jct_*** and sk_live_***"),
        ("Authorization: Bearer eyJhbGciOi.J9.abc", "Authorization: Bearer ***"),
        (
            "https://shop.example/reset?token=abc123&lang=en",
            "https://shop.example/reset?token=********&lang=en",
        ),
        (
            "cannot reach redis://:hunter2@cache.example:6379/0",
            "cannot reach redis://:********@cache.example:6379/0",
        ),
        (
            "POST https://api.example/v1?api_key=k-123&page=2",
            "POST https://api.example/v1?api_key=********&page=2",
        ),
    ],
)
def test_text_is_masked(text, shown):
    assert redact_text(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424241",  # fails the Luhn check
        "sched-x-manual-1732612345678",  # a millisecond timestamp (starts with 1)
        "order 12345, 2026-11-29T06:00:00+00:00",
        "id 44424242424242424242",  # 20 digits: not a card
        "a***@example.com",  # already masked: unchanged
        "no personal data here",
    ],
)
def test_innocent_text_is_left_alone(text):
    assert redact_text(text) == text


def test_luhn():
    assert luhn_ok("4242424242424242") and luhn_ok("378282246310005") and not luhn_ok("4242424242424241")


def test_nested_values_keys_and_types():
    payload = {
        "to": ["ann@example.com", "bob@example.org"],
        "data": {"name": "Ann", "note": "paid with 4242424242424242", "count": 3, "ratio": 0.5},
        "card": {"number": "4242 4242 4242 4242", "exp_month": 12, "holder": "Ann Lee", "cvc": "123"},
        "Api-Key": "k-123",
        "password": "",
        "client_secret": None,
        "has_token": True,
        "Authorization": "Bearer abcdef123456",
        "iban": "DE89370400440532013000",
        "batch": [("ann@example.com", 4242424242424242), [{"password": "hunter2"}]],
    }
    assert redact(payload) == {
        "to": ["a***@example.com", "b***@example.org"],
        "data": {"name": "Ann", "note": "paid with **** **** **** 4242", "count": 3, "ratio": 0.5},
        "card": {"number": "**** **** **** 4242", "exp_month": MASK, "holder": MASK, "cvc": MASK},
        "Api-Key": MASK,
        "password": "",
        "client_secret": None,
        "has_token": True,
        "Authorization": MASK,
        "iban": MASK,
        "batch": [["a***@example.com", "**** **** **** 4242"], [{"password": MASK}]],
    }
    assert payload["to"] == ["ann@example.com", "bob@example.org"]  # a copy: the input is untouched


def test_scalars_and_only_named_fields():
    assert redact("ann@example.com") == "a***@example.com"
    assert redact(None) is None and redact(7) == 7 and redact(1732612345678) == 1732612345678
    doc = {"id": "4242424242424242", "payload": {"to": "ann@example.com"}, "started_at": "2026-11-29"}
    assert redact_fields(doc, ("payload", "missing")) == {
        "id": "4242424242424242",
        "payload": {"to": "a***@example.com"},
        "started_at": "2026-11-29",
    }
