"""What every payment provider adapter shares: the charge request and its result, the three ways a
charge can fail, one HTTP exchange with the failures all providers have in common, and the Provider
base class (the constructor and the checks before a charge).

The three failures tell the payment job what to do with the payment:

- PaymentDeclined: the customer's money said no. Nothing was charged; the payment is marked failed.
- ProviderUnavailable: try again later, with the same idempotency key. This includes a request that
  timed out after it was sent: the provider may have charged and its answer got lost. Only the
  provider knows, and re-sending the same key makes it answer with that first outcome rather than
  charge again.
- ProviderRejected: our side is wrong (credentials, URL, request, a surprising amount). Not the
  customer's fault, so the payment is not marked failed; the message says what the admin must fix.

Messages are one line and never carry a secret: anything a provider echoes back is masked.
"""

from __future__ import annotations

import email.utils
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from jobctl.config import mask_url
from jobctl.core import http_client
from jobctl.errors import PermanentJobFailure, TransientJobFailure

MAX_DETAIL = 200  # characters of a provider's own error text kept in a message
UNKNOWN = "the outcome is unknown, the retry re-sends the same idempotency key"


@dataclass(frozen=True)
class ChargeRequest:
    payment_id: int
    provider_ref: str | None  # Stripe PaymentIntent id, YooKassa saved payment_method_id, crypto invoice id
    amount_cents: int
    currency: str  # the payment's (fiat) currency: "USD", "EUR", "RUB"
    customer_id: int | str
    idempotency_key: str  # sent to the provider unchanged; the caller keeps it across retries
    description: str = ""


@dataclass(frozen=True)
class ChargeResult:
    provider: str  # "stripe" | "yookassa" | "crypto"
    provider_payment_id: str  # the provider's id of the succeeded payment intent / payment / invoice
    status: str  # always "succeeded": anything else is raised as one of the failures below
    raw_status: str  # the provider's own word: "succeeded", "paid"


class PaymentDeclined(PermanentJobFailure):
    """The customer's money said no (card declined, insufficient funds, invoice expired).

    `reason` is a short code for the customer email and the payment row, e.g. "insufficient_funds"."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


class ProviderUnavailable(TransientJobFailure):
    """Try again later with the same idempotency key; `retry_after` is the provider's Retry-After."""


class ProviderRejected(PermanentJobFailure):
    """Our configuration or request is wrong; `hint` says what to fix (also appended to the message)."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(f"{message} ({hint})" if hint else message)
        self.hint = hint


def major_units(cents: int) -> str:
    """1234 -> "12.34": the decimal string providers take, computed without a float."""
    return f"{Decimal(cents).scaleb(-2):.2f}"


def same_amount(value: Any, cents: int) -> bool:
    """Whether a provider's decimal amount ("12.34", "12.3", Decimal) is exactly `cents`."""
    if isinstance(value, bool) or value is None:
        return False
    try:
        return Decimal(str(value)) == Decimal(cents).scaleb(-2)
    except InvalidOperation:
        return False


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds, or an HTTP-date) as seconds from now; None if absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def check_request(label: str, request: ChargeRequest, *, max_key: int = 255) -> None:
    """Refuse a request no provider should see: a float or non-positive amount, an unusable key."""
    cents = request.amount_cents
    if isinstance(cents, bool) or not isinstance(cents, int) or cents <= 0:
        raise ProviderRejected(
            f"{label}: payment {request.payment_id} amount {cents!r} is not a positive whole number of cents",
            hint="amounts are integer minor units, never floats",
        )
    key = request.idempotency_key
    usable = isinstance(key, str) and 0 < len(key) <= max_key and key.isascii() and key.isprintable()
    if not usable:
        raise ProviderRejected(
            f"{label}: payment {request.payment_id} has an unusable idempotency key {key!r}",
            hint=f"1-{max_key} printable ASCII characters",
        )
    if not isinstance(request.currency, str) or len(request.currency) != 3 or not request.currency.isalpha():
        raise ProviderRejected(
            f"{label}: payment {request.payment_id} currency {request.currency!r} is not a 3-letter code"
        )


def require_setting(label: str, value: str, env: str, what: str) -> str:
    if not value:
        raise ProviderRejected(f"{label}: {env} is not set", hint=f"set {what} in the workers' environment")
    return value


def base_url(label: str, value: str, env: str) -> str:
    value = require_setting(label, value, env, f"{label}'s API base URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ProviderRejected(f"{label}: {env} {mask_url(value)!r} is not an http(s) URL", hint=f"fix {env}")
    return value.rstrip("/")


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    data: Any  # the JSON body (floats parsed as Decimal), or None when there is none or it is not JSON
    text: str  # the body on one line, secrets masked, cut to MAX_DETAIL

    @property
    def retry_after(self) -> float | None:
        return retry_after_seconds(self.headers.get("Retry-After"))


class ProviderAPI:
    """One provider's HTTP API: sends a request and returns its Reply, whatever the status.

    Only failures where no HTTP answer came back (refused, reset, timed out, a broken response) are
    raised here, as ProviderUnavailable; reading a status and an error body is each adapter's job."""

    def __init__(self, label: str, base: str, timeout: float, secrets: Iterable[str]):
        self.label = label
        self.base = base
        self.timeout = timeout
        self.secrets = tuple(s for s in secrets if s and len(s) >= 3)

    def redact(self, text: str) -> str:
        text = http_client.redact(text, self.secrets)
        return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"

    def request(
        self, method: str, path: str, *, headers: Mapping[str, str], body: bytes | None = None
    ) -> Reply:
        where = f"{self.label} at {mask_url(self.base)}"
        try:
            answer = http_client.request(
                method,
                self.base + path,
                content=body,
                timeout=self.timeout,
                headers={"Accept": "application/json", **headers},
                secrets=self.secrets,
            )
        except http_client.TimedOut:
            raise self._timed_out(where) from None
        except http_client.Unreachable as exc:
            raise ProviderUnavailable(f"cannot reach {where}: {exc.reason}") from None
        except http_client.Unsendable as exc:
            fix = "check the API base URL and credentials for stray characters"
            raise ProviderRejected(f"{where}: the request cannot be sent: {exc.reason}", hint=fix) from None
        except http_client.BrokenOff as exc:
            broken = f"{exc.kind}: {exc.reason}"
            raise ProviderUnavailable(f"{where} broke off its answer ({broken}); {UNKNOWN}") from None
        text = answer.body.decode("utf-8", "replace")
        try:
            data = json.loads(text, parse_float=Decimal) if text.strip() else None
        except ValueError:
            data = None
        return Reply(answer.status, answer.headers, data, self.redact(text))

    def _timed_out(self, where: str) -> ProviderUnavailable:
        # The request may have reached the provider and charged: only a retry with the same key can tell.
        return ProviderUnavailable(f"{where} did not answer within {self.timeout:g}s; {UNKNOWN}")

    def unreadable(self, reply: Reply) -> ProviderUnavailable:
        """A 2xx whose body we cannot read: it may record a charge, so ask again with the same key."""
        return ProviderUnavailable(
            f"{self.label} replied {reply.status} with a body that is not the "
            f"expected JSON object ({reply.text or 'empty'}); {UNKNOWN}"
        )

    def failure(
        self, reply: Reply, detail: str, *, credentials: str
    ) -> ProviderRejected | ProviderUnavailable:
        """The failure for a non-2xx status every provider treats alike; `detail` is its code and message."""
        what = f"{self.label} replied {reply.status}: {detail or reply.text or 'no details'}"
        if reply.status in (401, 403):
            return ProviderRejected(what, hint=f"check {credentials}")
        if reply.status in (408, 409, 425, 429) or reply.status >= 500:
            return ProviderUnavailable(what, retry_after=reply.retry_after)
        if reply.status == 404:
            return ProviderRejected(what, hint="check the payment's provider_ref and the API base URL")
        return ProviderRejected(what, hint="the provider refused the request as invalid; nothing was charged")


def mismatch(
    label: str, request: ChargeRequest, thing: str, got_amount: Any, got_currency: Any
) -> ProviderRejected:
    """The provider charged something other than what was asked: never record that as this payment paid."""
    return ProviderRejected(
        f"{label}: {thing} reports {got_amount} {got_currency}, but payment {request.payment_id} is "
        f"{major_units(request.amount_cents)} {request.currency}; not recording it as paid",
        hint="reconcile the payment with the provider's dashboard",
    )


class Provider(ABC):
    """One provider's adapter. This base owns what all of them do alike: reading the credentials and
    the API base URL from the settings into a ProviderAPI, and refusing a request no provider should see
    (check_request, a missing provider_ref) before `settle` asks the provider for the outcome."""

    name: str  # "stripe": the word in JOBCTL_PAYMENT_PROVIDER and ChargeResult.provider
    label: str  # how messages name the provider: "Stripe"
    url_setting: str  # the Settings field with the API base URL: "stripe_url"
    url_env: str  # the variable it is read from, named in messages: "JOBCTL_STRIPE_URL"
    ref_name: str  # what payments.provider_ref holds for this provider: "PaymentIntent id"
    ref_hint: str  # how to fix a payment without one
    max_key: int = 255  # the longest idempotency key the provider takes

    def __init__(self, settings):
        self.auth, secrets = self.credentials(settings)
        url = base_url(self.label, getattr(settings, self.url_setting), self.url_env)
        self.api = ProviderAPI(self.label, url, settings.payment_timeout, secrets=secrets)

    @abstractmethod
    def credentials(self, settings) -> tuple[dict[str, str], tuple[str, ...]]:
        """The auth headers every request carries, and the secrets masked in every message."""

    def charge(self, request: ChargeRequest) -> ChargeResult:
        check_request(self.label, request, max_key=self.max_key)
        if not request.provider_ref:
            raise ProviderRejected(
                f"{self.label}: payment {request.payment_id} has no {self.ref_name}", hint=self.ref_hint
            )
        return self.settle(request, request.provider_ref)

    @abstractmethod
    def settle(self, request: ChargeRequest, ref: str) -> ChargeResult:
        """Ask the provider for the outcome of a checked request; `ref` is its provider_ref."""
