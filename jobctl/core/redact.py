"""Hiding personal data and secrets in what jobctl shows (CLI, dashboard, HTTP API).

The core read functions that hand job data to a face (browse.job_detail / queue_jobs,
dlq.list_entries / get_entry / read_entry) redact by default and take `reveal=True` for the
CLI's `--reveal`. What is hidden:

* email addresses anywhere in a string: ann.lee@example.com -> a***@example.com
* card numbers: 13-19 digits (plain, or in groups of 4 / Amex 4-6-5) that pass the Luhn check and
  start like a card (2-6; millisecond timestamps start with 1) -> **** **** **** 4242
* the value of any key named like password, secret, token, api_key, authorization, card, cvc,
  cvv, iban or private_key (whatever it holds; structure kept, None and booleans left alone)
* token-looking strings: jct_..., sk_live_... / sk_test_... / rk_..., "Bearer ..."
* secrets inside URLs, by the rule settings and error messages use too (jobctl.config.mask_url):
  the userinfo password, a token-like user name, credential-named parameters (?token=, &signature=)

Redaction only changes what is shown: stored data, and the data replay and rotation use, is untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from jobctl.config import mask_url

MASK = "[redacted]"

_SENSITIVE_KEY = re.compile(
    r"passw(or)?d|passphrase|secret|token|api_?key|authori[sz]ation|card|cvc|cvv|iban"
    r"|private_?key"
)
_EMAIL = re.compile(r"(?<![\w.%+-])([A-Za-z0-9_%+-])[A-Za-z0-9._%+-]*@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})")
# not inside a longer word or number; groups of 4 (16-19 digits) or Amex 4-6-5, or one run of digits
_CARD = re.compile(
    r"(?<![0-9A-Za-z])(?:[2-6]\d{12,18}"
    r"|[2-6]\d{3}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?"
    r"|3\d{3}([ -])\d{6}\2\d{5})(?![0-9A-Za-z])"
)
_TOKENS = (
    (re.compile(r"\bjct_[A-Za-z0-9_-]{6,}"), "jct_***"),
    (re.compile(r"\b([sr]k_(?:live|test))_[A-Za-z0-9]{6,}"), r"\1_***"),
    (re.compile(r"\b(Bearer)\s+[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE), r"\1 ***"),
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for n, ch in enumerate(reversed(digits)):
        d = int(ch)
        if n % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_mask(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        return f"**** **** **** {digits[-4:]}"
    return match.group(0)


def redact_text(text: str) -> str:
    """`text` with addresses, card numbers and tokens masked."""
    if not text:
        return text
    text = mask_url(text)  # first: a URL's password must not be read as an address's local part
    text = _CARD.sub(_card_mask, text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    for pattern, replacement in _TOKENS:
        text = pattern.sub(replacement, text)
    return text


def is_sensitive_key(key: Any) -> bool:
    return isinstance(key, str) and _SENSITIVE_KEY.search(key.lower().replace("-", "_")) is not None


def _secret_value(value: Any) -> Any:
    if value is None or isinstance(value, bool) or value == "":
        return value
    if isinstance(value, str | int):
        masked = _CARD.sub(_card_mask, str(value).strip())
        if masked.startswith("**** ") and len(masked) == 19:
            return masked
    return MASK


def redact(value: Any, *, sensitive: bool = False) -> Any:
    """A redacted copy of a JSON-like value (dicts, lists, strings, numbers), nested to any depth."""
    if isinstance(value, dict):
        return {
            (redact_text(k) if isinstance(k, str) else k): redact(
                v, sensitive=sensitive or is_sensitive_key(k)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, sensitive=sensitive) for v in value]
    if sensitive:
        return _secret_value(value)
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        masked = redact_text(str(value))
        return masked if masked != str(value) else value
    return value


def redact_fields(doc: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """A copy of `doc` with only the named fields redacted (ids and timestamps stay as they are)."""
    out = dict(doc)
    for name in names:
        if name in out:
            out[name] = redact(out[name])
    return out
