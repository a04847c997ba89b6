"""Jinja filters for email templates (money, order totals, safe links); bad data -> TemplateDataError."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Undefined

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}


class TemplateDataError(ValueError):
    """The data has the right names but the wrong shape (e.g. a price that is not a number)."""


def _defined(value: Any) -> Any:
    """Filters get Undefined without a complaint; make a missing variable fail as usual."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


def to_decimal(value: Any, what: str = "value") -> Decimal:
    value = _defined(value)
    if isinstance(value, bool) or value is None:
        raise TemplateDataError(f"{what} must be a number, got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise TemplateDataError(f"{what} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise TemplateDataError(f"{what} must be a finite number, got {value!r}")
    return number


def money(value: Any, currency: Any = "USD") -> str:
    """`12.5 | money("EUR")` -> "€12.50"; unknown currency codes follow the amount."""
    amount = to_decimal(value, "amount").quantize(Decimal("0.01"))
    code = str(_defined(currency)).strip().upper()
    sign = "-" if amount < 0 else ""
    text = f"{abs(amount):,.2f}"
    symbol = CURRENCY_SYMBOLS.get(code)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {code}"


def _item_field(item: Any, key: str, index: int | None) -> Any:
    label = f"item {index}" if index is not None else "each item"
    item = _defined(item)
    if not isinstance(item, dict):
        raise TemplateDataError(f"{label} must be an object with name, quantity and unit_price, got {item!r}")
    if key not in item:
        raise TemplateDataError(f"{label} needs {key!r} (items are objects with name, quantity, unit_price)")
    return item[key]


def line_total(item: Any, index: int | None = None) -> Decimal:
    quantity = to_decimal(_item_field(item, "quantity", index), "quantity")
    price = to_decimal(_item_field(item, "unit_price", index), "unit_price")
    return quantity * price


def subtotal(items: Any) -> Decimal:
    if not isinstance(_defined(items), list | tuple) or not items:
        raise TemplateDataError(f"items must be a non-empty list of objects, got {items!r}")
    return sum((line_total(item, n) for n, item in enumerate(items, 1)), Decimal(0))


def link(value: Any) -> str:
    """Only http(s) and mailto links go into an href: `{{ url | link }}`."""
    text = str(_defined(value)).strip()
    if urlsplit(text).scheme.lower() not in ("http", "https", "mailto"):
        raise TemplateDataError(f"links must start with https://, http:// or mailto:, got {text!r}")
    return text


def decimal(value: Any) -> Decimal:
    return to_decimal(value)


FILTERS = {"money": money, "line_total": line_total, "subtotal": subtotal, "decimal": decimal, "link": link}
