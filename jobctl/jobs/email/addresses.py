"""Email address checks: strict enough to stop typos before they are queued, no DNS lookups.

Accepted: `user@example.com`, `Name <user@example.com>`, `"Doe, Jane" <jane@example.com>`;
internationalised domains are converted to their ASCII (punycode) form.
"""

from __future__ import annotations

import re
from email.headerregistry import Address

from jobctl.errors import UsageError

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
LOCAL_RE = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
TLD_RE = re.compile(r"[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}")
NAMED_RE = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^<>"]*?))\s*<([^<>]*)>\s*')
# One plain `local@domain` in ASCII, every label well-formed: the common case of a bulk CSV, checked by
# one regex instead of parse_address's steps; anything else (names, IDN, odd lengths) goes the slow way.
_PLAIN_RE = re.compile(rf"({LOCAL_RE.pattern})@((?:{LABEL_RE.pattern}\.)+{LABEL_RE.pattern})")
MAX_RECIPIENTS = 100
HINT = "use an address like name@example.com or 'Name <name@example.com>'"


def _bad(raw: object, why: str = "") -> UsageError:
    return UsageError(f"invalid email address {raw!r}" + (f": {why}" if why else ""), HINT)


def _domain(raw: object, domain: str) -> str:
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        raise _bad(raw, "the domain is not valid") from None
    labels = ascii_domain.split(".")
    if len(ascii_domain) > 253 or len(labels) < 2:
        raise _bad(raw, "the domain needs a dot, as in example.com")
    if not all(LABEL_RE.fullmatch(label) for label in labels) or not TLD_RE.fullmatch(labels[-1]):
        raise _bad(raw, "the domain is not valid")
    return ascii_domain.lower()


def parse_address(raw: object) -> Address:
    """One address (optionally with a display name); raises UsageError naming the input."""
    if not isinstance(raw, str):
        raise _bad(raw, "expected a string")
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise _bad(raw, "it contains control characters")
    name = ""
    spec = raw.strip()
    if match := NAMED_RE.fullmatch(raw):
        quoted, plain, spec = match.groups()
        name = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else plain.strip()
        spec = spec.strip()
    if not spec or any(c.isspace() for c in spec):
        raise _bad(raw, "it must not contain spaces" if spec else "it is empty")
    if spec.count("@") != 1:
        raise _bad(raw, "it needs exactly one @")
    local, domain = spec.split("@")
    if not local:
        raise _bad(raw, "nothing before the @")
    if len(local) > 64 or not LOCAL_RE.fullmatch(local):
        raise _bad(raw, "the part before the @ is not valid")
    domain = _domain(raw, domain)
    if len(local) + 1 + len(domain) > 254:
        raise _bad(raw, "it is too long")
    try:
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise _bad(raw, str(exc)) from None


def plain_address(raw: str) -> str | None:
    """normalize_address(raw) for a plain ASCII `local@domain` (~1 µs, not ~7); else None."""
    match = _PLAIN_RE.fullmatch(raw)
    if match is None:
        return None
    local, domain = match.groups()
    if len(local) > 64 or len(domain) > 253 or len(local) + 1 + len(domain) > 254:
        return None
    if not TLD_RE.fullmatch(domain[domain.rfind(".") + 1 :]):
        return None
    return f"{local}@{domain.lower()}"


def normalize_address(raw: object) -> str:
    return str(parse_address(raw))


def _split(text: str) -> list[str]:
    """Split on commas that are outside quotes and angle brackets."""
    parts: list[str] = []
    current: list[str] = []
    quoted, angled, escaped = False, False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "<" and not quoted:
            angled = True
        elif char == ">" and not quoted:
            angled = False
        elif char == "," and not quoted and not angled:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p for p in (part.strip() for part in parts) if p]


def normalize_recipients(to: str | list[str] | tuple[str, ...]) -> list[str]:
    """A string (comma-separated allowed) or a list of addresses -> normalised, de-duplicated list."""
    if isinstance(to, str):
        items = _split(to)
    elif isinstance(to, list | tuple):
        items = []
        for item in to:
            if not isinstance(item, str):
                raise _bad(item, "expected a string")
            items.extend(_split(item) or [item])
    else:
        raise UsageError(
            f"recipients must be an address or a list of addresses, got {type(to).__name__}", HINT
        )
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        address = parse_address(item)
        key = address.addr_spec.lower()
        if key not in seen:
            seen.add(key)
            out.append(str(address))
    if not out:
        raise UsageError(
            "no recipient address given", "give at least one address in to, e.g. name@example.com"
        )
    if len(out) > MAX_RECIPIENTS:
        raise UsageError(
            f"{len(out)} recipients in one email; the limit is {MAX_RECIPIENTS}",
            "send one email per recipient (e.g. from a CSV file)",
        )
    return out
