"""The payment sandbox: a fake Stripe, YooKassa and crypto gateway in one loopback HTTP server, so
payment retries can run end to end without a real provider (`jobctl payments sandbox`, the demo,
the tests). Thread-safe: worker processes charge through it while its owner watches the captures.

    base_url, stop = start_sandbox(settings=settings)   # port 0: any free port
    environment(base_url)   # JOBCTL_STRIPE_URL, STRIPE_API_KEY, ... pointing jobctl at it
    stop()

Each provider lives under its own prefix (`server.stripe_url` = `server.url + "/stripe"`, ...):

    POST /stripe/v1/payment_intents/{id}/confirm   Bearer STRIPE_KEY, Idempotency-Key
    GET  /stripe/v1/payment_intents/{id}
    POST /yookassa/v3/payments                      Basic shop id:secret key, Idempotence-Key
    GET  /yookassa/v3/payments/{id}
    GET  /crypto/v1/invoices/{id}                   X-Api-Key CRYPTO_API_KEY (Idempotency-Key recorded)
    GET  /sandbox/captures                          every capture so far (JSON list; no credentials)

The credentials are fixed test values (below): the sandbox refuses others as the real APIs would.

Stripe PaymentIntents and crypto invoices exist before a charge (made at checkout, they carry the
amount: a confirm or an invoice read does not). They are registered with `add_intent` /
`add_invoice`, or, with a `lookup` (store_lookup(settings): the jobctl store's payments), made on
first sight from the store's payment with that provider and provider_ref, as checkout would have.
An id in neither gets a 404 like the real APIs. A YooKassa payment is created by its POST (the
amount is in the request).

Deterministic declines, like a provider's test cards: a provider_ref ending in `_decline_<reason>`
(as `jobctl db seed` writes for some payments, e.g. `pi_seed_18_decline_insufficient_funds`) is
declined with that reason on every charge (crypto: the invoice expires, or is underpaid for
insufficient_funds). Any other ref is charged.

Behaviours, per provider_ref, queued with `script(ref, [...])` and used one per charging request
(the confirm POST, the YooKassa POST, the invoice GET; status GETs use none), then the ref's own
(a decline for a `_decline_` ref, else "succeed"):

    succeed           charge: the intent succeeds / a payment succeeds / the invoice is paid
    decline:<reason>  Stripe 402 card_error (decline_code <reason>; "requires_action" gives that
                      intent status instead), YooKassa canceled with that reason, crypto invoice
                      expired/underpaid/cancelled (insufficient_funds: underpaid; others: expired)
    500, 503, 5xx     a server error in the provider's shape (502 and 504: an HTML page from a proxy)
    429:<seconds>     rate limited, with Retry-After
    reset             the connection is dropped without an answer
    timeout:<s>       charge and remember the answer, then wait <s> before sending it: the client has
                      given up, the capture happened anyway (a provider whose answer got lost)
    hang:<s>          wait <s> holding the idempotency key, then charge and answer
    processing[:<s>]  (also pending, confirming) the charge is not final: it settles as a success
                      <s> seconds later (default settle_after, 0.5 s), seen by the next request
    amount:<cents>    charge, but take and report <cents> instead of the asked amount

Errors (5xx, 429, reset) happen in front of the idempotency layer: nothing is charged or stored.
A behaviour taken by a request that is answered from the idempotency layer changes nothing (its
delay, for timeout and hang, still applies).

Idempotency, as Stripe documents it (YooKassa alike): the first request with a key is executed and
its answer stored (successes, declines, pending: outcomes of a charge; not 4xx refusals) under
(provider, key); a later request with that key gets the stored answer without a new charge; one
with the same key but another path or body gets 400. While the first is still running, a request
with its key gets Stripe's 409 idempotency_error or YooKassa's 202 "processing" (retry_after in
milliseconds). Crypto reads are never replayed (a GET shows the invoice as it is now), but the
key must still be used for one invoice only. A paid invoice or a succeeded intent is final, so it
is captured once whatever the keys; a YooKassa POST with a new key is a new payment, a second
capture, exactly as in the real API.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import socket
import struct
import threading
import time
import uuid
from base64 import b64decode
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from jobctl.data.engine import get_engine
from jobctl.data.schema import payments
from jobctl.errors import JobctlError

STRIPE_KEY = "sk_test_fake_51Jobctl4eC39HqLyjWDarjtT1zdp7dc"
YOOKASSA_SHOP_ID = "506751"
YOOKASSA_SECRET_KEY = "test_fake_yk_Sup3rS3cret_9f2c"
CRYPTO_API_KEY = "ck_test_fake_gateway_7d41e0"
SETTLE_AFTER = 0.5
YOOKASSA_RETRY_AFTER_MS = 1000

_DECLINING_REF = re.compile(r"_decline_(\w+)$")
_SECONDS = r"(\d+(?:\.\d+)?)"
_BEHAVIOUR = re.compile(
    rf"^(?:(succeed|reset)|decline:(\w+)|(5\d\d)|429:{_SECONDS}|(timeout|hang):{_SECONDS}"
    rf"|(processing|pending|confirming)(?::{_SECONDS})?|amount:(\d+))$"
)


@dataclass(frozen=True)
class Behaviour:
    text: str
    kind: str  # succeed, reset, decline, error, rate_limit, timeout, hang, processing, amount
    word: str = ""  # decline reason, or the waiting word (processing/pending/confirming)
    seconds: float | None = None
    status: int = 0
    cents: int = 0

    @classmethod
    def parse(cls, text: str) -> Behaviour:
        match = _BEHAVIOUR.match(text)
        if not match:
            raise ValueError(f"unknown sandbox behaviour {text!r} (see the sandbox module doc)")
        plain, reason, error, wait, slow, slow_s, waiting, settle, cents = match.groups()
        if plain:
            return cls(text, plain)
        if reason:
            return cls(text, "decline", word=reason)
        if error:
            return cls(text, "error", status=int(error))
        if wait:
            return cls(text, "rate_limit", seconds=float(wait), status=429)
        if slow:
            return cls(text, slow, seconds=float(slow_s))
        if waiting:
            return cls(text, "processing", word=waiting, seconds=float(settle) if settle else None)
        return cls(text, "amount", cents=int(cents))


SUCCEED = Behaviour("succeed", "succeed")


@dataclass(frozen=True)
class Route:
    ref: str | None  # the provider_ref whose behaviours apply (and the path's object id for reads)
    object_id: str
    charges: bool  # a charging request (takes a behaviour) rather than a status read


@dataclass
class _KeyUse:
    fingerprint: str
    done: bool = False
    status: int = 0
    body: Any = None


def _major(cents: int) -> str:
    return f"{Decimal(cents).scaleb(-2):.2f}"


def _proxy_page(status: int) -> bytes:
    return f"<html><body><h1>{status} {HTTPStatus(status).phrase}</h1>nginx</body></html>".encode()


def _charged(behaviour: Behaviour, obj: dict) -> int:
    """What a succeeding charge takes: the asked amount, or the one an `amount:` behaviour says."""
    return behaviour.cents if behaviour.kind == "amount" else obj["amount_cents"]


class SandboxProviders(ThreadingHTTPServer):
    daemon_threads = True
    server_address: tuple[str, int]  # bound by (host, port) below, never a bytes host or IPv6 flow info

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        settle_after: float = SETTLE_AFTER,
        lookup: Callable[[str, str], tuple[Any, int, str] | None] | None = None,
    ):
        super().__init__((host, port), _Handler)
        self.settle_after = settle_after
        self.lock = threading.RLock()
        # {provider, provider_ref, provider_payment_id, payment_id, amount_cents, currency,
        #  idempotency_key, at}
        self.captures: list[dict] = []
        # every request: provider, method, path, headers (credentials left out), body, idempotency_key,
        # provider_ref, behaviour, status, replayed, at
        self.requests: list[dict] = []
        self._scripts: dict[str, list[Behaviour]] = {}
        self._objects: dict[tuple[str, str], dict] = {}
        self._keys: dict[tuple[str, str], _KeyUse] = {}
        self._numbers = itertools.count(1)
        # (provider, provider_ref) -> (payment_id, amount_cents, currency) or None: where an intent or
        # invoice that was not registered comes from (store_lookup reads the jobctl store)
        self.lookup = lookup

    def shutdown(self) -> None:
        """Stop serving at once: a connection of our own wakes the accept loop from its poll wait."""
        threading.Thread(target=self._wake, daemon=True).start()
        super().shutdown()

    def _wake(self) -> None:
        time.sleep(0.002)  # let shutdown() raise its flag first
        try:
            socket.create_connection(self.server_address, timeout=1).close()
        except OSError:
            pass

    # -- what tests use -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host = self.server_address[0]
        host = "127.0.0.1" if host in ("", "0.0.0.0") else host  # an any-address bind is reached on loopback
        return f"http://{host}:{self.server_address[1]}"

    @property
    def stripe_url(self) -> str:
        return self.url + "/stripe"

    @property
    def yookassa_url(self) -> str:
        return self.url + "/yookassa"

    @property
    def crypto_url(self) -> str:
        return self.url + "/crypto"

    def environment(self) -> dict[str, str]:
        """The settings that point jobctl (and worker processes started with them) at this server."""
        return environment(self.url)

    def add_intent(
        self, provider_ref: str, amount_cents: int, currency: str, *, payment_id: Any = None
    ) -> str:
        """A Stripe PaymentIntent awaiting confirmation, as created at checkout."""
        with self.lock:
            self._objects[("stripe", provider_ref)] = {
                "id": provider_ref,
                "ref": provider_ref,
                "payment_id": payment_id,
                "amount_cents": amount_cents,
                "currency": currency.upper(),
                "status": "requires_confirmation",
                "amount_received": 0,
                "latest_charge": None,
                "last_payment_error": None,
                "settle_at": None,
                "key": None,
            }
        return provider_ref

    def add_invoice(
        self,
        provider_ref: str,
        amount_cents: int,
        currency: str,
        *,
        payment_id: Any = None,
        coin: str | None = "USDT",
        coin_amount: str | None = None,
    ) -> str:
        """A crypto invoice for a fiat amount, priced in `coin` (with fiat_amount/fiat_currency);
        coin=None prices it in `currency` itself, without the fiat fields."""
        with self.lock:
            self._objects[("crypto", provider_ref)] = {
                "id": provider_ref,
                "ref": provider_ref,
                "payment_id": payment_id,
                "amount_cents": amount_cents,
                "currency": currency.upper(),
                "coin": coin,
                "coin_amount": coin_amount or _major(amount_cents),
                "status": "new",
                "charged_cents": None,
                "settle_at": None,
                "key": None,
            }
        return provider_ref

    def script(self, provider_ref: str, behaviours: list[str]) -> None:
        """Queue behaviours for the next charging requests about provider_ref (see the module doc)."""
        parsed = [Behaviour.parse(b) for b in behaviours]
        with self.lock:
            self._scripts.setdefault(provider_ref, []).extend(parsed)

    def keys_seen(self, provider_ref: str) -> list[str]:
        """The idempotency keys sent for provider_ref, each once, in the order first seen."""
        with self.lock:
            keys = [
                r["idempotency_key"]
                for r in self.requests
                if r["provider_ref"] == provider_ref and r["idempotency_key"] is not None
            ]
        return list(dict.fromkeys(keys))

    def captures_for(self, payment_id: Any) -> list[dict]:
        with self.lock:
            return [c for c in self.captures if str(c["payment_id"]) == str(payment_id)]

    # -- the provider's side, called by the handler --------------------------------------------
    def _record(self, entry: dict) -> dict:
        with self.lock:
            self.requests.append(entry)
        return entry

    def _ensure(self, provider: str, provider_ref: str | None) -> None:
        """Make an intent or invoice nobody registered from `lookup`, outside the lock (it may query)."""
        if provider not in ("stripe", "crypto") or not provider_ref or self.lookup is None:
            return
        with self.lock:
            if (provider, provider_ref) in self._objects:
                return
        found = self.lookup(provider, provider_ref)
        if found is None:
            return
        payment_id, cents, currency = found
        with self.lock:
            if (provider, provider_ref) not in self._objects:  # a registration meanwhile wins
                add = self.add_intent if provider == "stripe" else self.add_invoice
                add(provider_ref, cents, currency, payment_id=payment_id)

    def _next_behaviour(self, provider_ref: str | None) -> Behaviour:
        with self.lock:
            queued = self._scripts.get(provider_ref or "")
            if queued:
                return queued.pop(0)
        declining = _DECLINING_REF.search(provider_ref or "")
        return (
            Behaviour(f"decline:{declining.group(1)}", "decline", word=declining.group(1))
            if declining
            else SUCCEED
        )

    def _claim(
        self, provider: str, key: str | None, fingerprint: str, replays: bool
    ) -> tuple[str, _KeyUse | None]:
        """What the idempotency layer does with a request: new, replay, conflict, mismatch or unkeyed."""
        if key is None:
            return "unkeyed", None
        with self.lock:
            use = self._keys.get((provider, key))
            if use is not None and use.fingerprint != fingerprint:
                return "mismatch", use
            if not replays:
                self._keys.setdefault((provider, key), _KeyUse(fingerprint, done=True))
                return "unkeyed", None
            if use is None:
                self._keys[(provider, key)] = _KeyUse(fingerprint)
                return "new", None
            return ("replay" if use.done else "conflict"), use

    def _finish(self, provider: str, key: str | None, status: int, body: Any, store: bool) -> None:
        if key is None:
            return
        with self.lock:
            use = self._keys.get((provider, key))
            if use is None or use.done:
                return
            if store:
                use.done, use.status, use.body = True, status, body
            else:  # not an outcome of a charge: the key is free again, as after a refused request
                del self._keys[(provider, key)]

    def _capture(self, provider: str, obj: dict, cents: int, key: str | None) -> None:
        self.captures.append(
            {
                "provider": provider,
                "provider_ref": obj["ref"],
                "provider_payment_id": obj["id"],
                "payment_id": obj["payment_id"],
                "amount_cents": cents,
                "currency": obj["currency"],
                "idempotency_key": key,
                "at": time.time(),
            }
        )

    def _settle(self, api: _ProviderAPI, obj: dict) -> None:
        """A pending charge whose time has come succeeds (and is captured) when next looked at."""
        if obj.get("settle_at") is not None and time.monotonic() >= obj["settle_at"]:
            obj["settle_at"] = None
            api.succeed(self, obj, obj["amount_cents"], obj["key"])

    def _settle_in(self, behaviour: Behaviour) -> float:
        wait = self.settle_after if behaviour.seconds is None else behaviour.seconds
        return time.monotonic() + wait


class _ProviderAPI:
    """One provider's shapes: auth, routes, error bodies, and what a behaviour does to its objects."""

    name = ""
    key_header = "Idempotency-Key"
    replays = True  # POSTs are answered from the idempotency layer; crypto's GETs are not

    def error(self, status: int, code: str, message: str) -> Any:
        raise NotImplementedError

    def server_error(self, status: int) -> Any:
        if status in (502, 504):
            return _proxy_page(status)
        return self.error(status, "internal_server_error", "Internal server error, try again later")

    def validate(self, body: Any) -> tuple[int, Any] | None:
        return None

    def authorized(self, headers: Any) -> tuple[bool, Any]:
        raise NotImplementedError

    def route(self, method: str, path: str, body: Any) -> Route | None:
        raise NotImplementedError

    def read(self, server: SandboxProviders, route: Route) -> tuple[int, Any]:
        raise NotImplementedError

    def succeed(self, server: SandboxProviders, obj: dict, cents: int, key: str | None) -> None:
        raise NotImplementedError

    def stores(self, status: int) -> bool:
        return 200 <= status < 300


class _Stripe(_ProviderAPI):
    name = "stripe"
    CODES = ("card_declined", "expired_card", "incorrect_cvc", "incorrect_number", "processing_error")
    MESSAGES = (
        ("insufficient_funds", "Your card has insufficient funds."),
        ("expired_card", "Your card has expired."),
        ("incorrect_cvc", "Your card's security code is incorrect."),
    )

    def error(self, status, code, message, **extra):
        kind = "api_error" if status >= 500 else "invalid_request_error"
        return {"error": {"type": kind, "code": code, "message": message, **extra}}

    def server_error(self, status):
        if status in (502, 504):
            return _proxy_page(status)
        return {"error": {"type": "api_error", "message": "An unknown error occurred"}}

    def rate_limited(self):
        return self.error(429, "rate_limit", "Too many requests hit the API too quickly.")

    def authorized(self, headers) -> tuple[bool, Any]:
        given = headers.get("Authorization", "")
        if given == f"Bearer {STRIPE_KEY}":
            return True, None
        key = given.removeprefix("Bearer ")
        shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:]  # Stripe's own masking
        message = f"Invalid API Key provided: {shown}" if key else "You did not provide an API key."
        return False, {"error": {"type": "invalid_request_error", "message": message}}

    def route(self, method, path, body) -> Route | None:
        match = re.fullmatch(r"/v1/payment_intents/([^/]+)(/confirm)?", path)
        if not match or (method == "POST") != bool(match.group(2)):
            return None
        ref = unquote(match.group(1))
        return Route(ref, ref, charges=method == "POST")

    def stores(self, status):
        return status in (200, 402)  # Stripe keeps declines too: a retry with the key gets the decline

    def in_progress(self, key):
        return (
            409,
            {
                "error": {
                    "type": "idempotency_error",
                    "message": (
                        "There is currently another in-progress request using this Idempotent Key "
                        "(that probably means you submitted twice, and the other request is still "
                        f"going through): {key}. Please try again later."
                    ),
                }
            },
            {},
        )

    def key_reused(self, key):
        return {
            "error": {
                "type": "idempotency_error",
                "message": (
                    "Keys for idempotent requests can only be used with the same parameters they "
                    f"were first used with. Try using a key other than '{key}' if you meant to execute a "
                    "different request."
                ),
            }
        }

    def intent(self, obj) -> dict:
        return {
            "id": obj["id"],
            "object": "payment_intent",
            "amount": obj["amount_cents"],
            "amount_received": obj["amount_received"],
            "currency": obj["currency"].lower(),
            "status": obj["status"],
            "latest_charge": obj["latest_charge"],
            "last_payment_error": obj["last_payment_error"],
            "metadata": {} if obj["payment_id"] is None else {"payment_id": str(obj["payment_id"])},
        }

    def read(self, server, route):
        obj = server._objects.get(("stripe", route.object_id))
        if obj is None:
            return 404, self.error(404, "resource_missing", f"No such payment_intent: '{route.object_id}'")
        server._settle(self, obj)
        return 200, self.intent(obj)

    def succeed(self, server, obj, cents, key):
        charge_id = f"ch_fake_{next(server._numbers)}"
        obj.update(status="succeeded", amount_received=cents, latest_charge=charge_id)
        server._capture("stripe", obj, cents, key)

    def execute(self, server, route, body, behaviour, key):
        obj = server._objects.get(("stripe", route.ref))
        if obj is None:
            return 404, self.error(
                404,
                "resource_missing",
                f"No such payment_intent: '{route.ref}' (register it with add_intent)",
            )
        server._settle(self, obj)
        if obj["status"] not in ("requires_confirmation", "requires_payment_method", "requires_action"):
            return 400, self.error(
                400,
                "payment_intent_unexpected_state",
                f"You cannot confirm this PaymentIntent because it has a status of {obj['status']}.",
                payment_intent=self.intent(obj),
            )
        if behaviour.kind == "decline" and behaviour.word == "requires_action":
            obj["status"] = "requires_action"
            return 200, self.intent(obj)
        if behaviour.kind == "decline":
            reason = behaviour.word
            error = {
                "type": "card_error",
                "code": reason if reason in self.CODES else "card_declined",
                "message": dict(self.MESSAGES).get(reason, "Your card was declined."),
            }
            if reason not in self.CODES:
                error["decline_code"] = reason
            obj.update(status="requires_payment_method", last_payment_error=error)
            return 402, {"error": {**error, "payment_intent": self.intent(obj)}}
        if behaviour.kind == "processing":
            obj.update(status="processing", settle_at=server._settle_in(behaviour), key=key)
            return 200, self.intent(obj)
        self.succeed(server, obj, _charged(behaviour, obj), key)
        return 200, self.intent(obj)


class _YooKassa(_ProviderAPI):
    name = "yookassa"
    key_header = "Idempotence-Key"

    def error(self, status, code, message, parameter=None):
        body = {"type": "error", "id": str(uuid.uuid4()), "code": code, "description": message}
        if parameter:
            body["parameter"] = parameter
        return body

    def rate_limited(self):
        return self.error(429, "too_many_requests", "Too many requests, try again later")

    def authorized(self, headers):
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        try:
            given = b64decode(token).decode() if scheme == "Basic" else ""
        except ValueError:
            given = ""
        if given == f"{YOOKASSA_SHOP_ID}:{YOOKASSA_SECRET_KEY}":
            return True, None
        return False, self.error(
            401,
            "invalid_credentials",
            "Login fails or the secret key is wrong. Check them in your YooKassa account",
            parameter="Authorization",
        )

    def route(self, method, path, body):
        if method == "POST" and path == "/v3/payments":
            ref = body.get("payment_method_id") if isinstance(body, dict) else None
            return Route(ref if isinstance(ref, str) else None, "", charges=True)
        match = re.fullmatch(r"/v3/payments/([^/]+)", path)
        if method == "GET" and match:
            return Route(None, unquote(match.group(1)), charges=False)
        return None

    def validate(self, body):
        amount = body.get("amount") if isinstance(body, dict) else None
        if not isinstance(amount, dict):
            amount = {}
        problems = (
            (
                "amount.value",
                "Invalid amount value: a string with 2 decimal places",
                isinstance(amount.get("value"), str) and re.fullmatch(r"\d+\.\d{2}", amount["value"]),
            ),
            ("amount.currency", "Invalid currency", re.fullmatch(r"[A-Z]{3}", str(amount.get("currency")))),
            (
                "capture",
                "This fake only captures at once",
                isinstance(body, dict) and body.get("capture") is True,
            ),
            (
                "payment_method_id",
                "Missing payment_method_id",
                isinstance(body, dict) and isinstance(body.get("payment_method_id"), str),
            ),
        )
        for parameter, message, ok in problems:
            if not ok:
                return 400, self.error(400, "invalid_request", message, parameter=parameter)
        return None

    def in_progress(self, key):
        return (
            202,
            {
                "type": "processing",
                "retry_after": YOOKASSA_RETRY_AFTER_MS,
                "description": "Request accepted, but not processed yet. Repeat it with the same "
                "Idempotence-Key after retry_after milliseconds",
            },
            {},
        )

    def key_reused(self, key):
        return self.error(
            400,
            "invalid_request",
            "Idempotence key duplicated: it was used with other request parameters",
            parameter="Idempotence-Key",
        )

    def payment(self, obj) -> dict:
        cents = obj["charged_cents"] or obj["amount_cents"]
        body = {
            "id": obj["id"],
            "status": obj["status"],
            "paid": obj["status"] == "succeeded",
            "amount": {"value": _major(cents), "currency": obj["currency"]},
            "payment_method": {"type": "bank_card", "id": obj["ref"], "saved": True},
            "description": obj["description"],
            "metadata": obj["metadata"],
            "test": True,
        }
        if obj.get("cancellation_details"):
            body["cancellation_details"] = obj["cancellation_details"]
        return body

    def read(self, server, route):
        obj = server._objects.get(("yookassa", route.object_id))
        if obj is None:
            return 404, self.error(
                404, "not_found", "Payment doesn't exist or access denied", parameter="payment_id"
            )
        server._settle(self, obj)
        return 200, self.payment(obj)

    def succeed(self, server, obj, cents, key):
        obj.update(status="succeeded", charged_cents=cents)
        server._capture("yookassa", obj, cents, key)

    def execute(self, server, route, body, behaviour, key):
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        payment_id = metadata.get("payment_id")
        obj = {
            "id": str(uuid.uuid4()),
            "ref": route.ref,
            "status": "pending",
            "charged_cents": None,
            "payment_id": (
                int(payment_id)
                if isinstance(payment_id, str | int) and str(payment_id).isdigit()
                else payment_id
            ),
            "amount_cents": int(Decimal(body["amount"]["value"]) * 100),
            "currency": body["amount"]["currency"],
            "description": body.get("description"),
            "metadata": metadata,
            "settle_at": None,
            "key": key,
        }
        server._objects[("yookassa", obj["id"])] = obj
        if behaviour.kind == "decline":
            details = {"party": "payment_network", "reason": behaviour.word}
            obj.update(status="canceled", cancellation_details=details)
        elif behaviour.kind == "processing":
            obj["settle_at"] = server._settle_in(behaviour)
        else:
            self.succeed(server, obj, _charged(behaviour, obj), key)
        return 200, self.payment(obj)


class _Crypto(_ProviderAPI):
    name = "crypto"
    replays = False
    DECLINES = ("expired", "underpaid", "cancelled")

    def error(self, status, code, message):
        return {"error": {"code": code, "message": message}}

    def rate_limited(self):
        return self.error(429, "rate_limited", "slow down")

    def authorized(self, headers):
        given = headers.get("X-Api-Key")
        if given == CRYPTO_API_KEY:
            return True, None
        # a sloppy gateway that echoes the key it got: the adapter must mask it
        return False, self.error(401, "unauthorized", f"API key {given!r} is not valid")

    def route(self, method, path, body):
        match = re.fullmatch(r"/v1/invoices/([^/]+)", path)
        if method != "GET" or not match:
            return None
        ref = unquote(match.group(1))
        return Route(ref, ref, charges=True)

    def key_reused(self, key):
        return self.error(400, "idempotency_key_reused", f"key {key!r} was used for another invoice")

    def invoice(self, obj) -> dict:
        cents = obj["charged_cents"] or obj["amount_cents"]
        body = {"id": obj["id"], "status": obj["status"]}
        if obj["coin"]:
            coin_amount = obj["coin_amount"] if obj["charged_cents"] is None else _major(cents)
            body.update(
                amount=coin_amount,
                currency=obj["coin"],
                fiat_amount=_major(cents),
                fiat_currency=obj["currency"],
            )
        else:
            body.update(amount=_major(cents), currency=obj["currency"])
        if obj["settle_at"] is not None:
            body["retry_after"] = max(1, math.ceil(obj["settle_at"] - time.monotonic()))
        return body

    def succeed(self, server, obj, cents, key):
        obj.update(status="paid", charged_cents=cents)
        server._capture("crypto", obj, cents, key)

    def execute(self, server, route, body, behaviour, key):
        obj = server._objects.get(("crypto", route.ref))
        if obj is None:
            return 404, self.error(
                404, "invoice_not_found", f"no invoice {route.ref!r} (register it with add_invoice)"
            )
        server._settle(self, obj)
        if obj["status"] == "new":  # its fate is decided by the first look; after that it only settles
            if behaviour.kind == "decline":
                word = behaviour.word.removeprefix("invoice_").replace("canceled", "cancelled")
                word = "underpaid" if word == "insufficient_funds" else word  # too little was sent
                obj["status"] = word if word in self.DECLINES else "expired"
            elif behaviour.kind == "processing":
                word = "confirming" if behaviour.word == "confirming" else "pending"
                obj.update(status=word, settle_at=server._settle_in(behaviour), key=key)
            else:
                self.succeed(server, obj, _charged(behaviour, obj), key)
        return 200, self.invoice(obj)


APIS: dict[str, _ProviderAPI] = {api.name: api for api in (_Stripe(), _YooKassa(), _Crypto())}
SECRET_HEADERS = {"authorization", "x-api-key"}


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(text, keep_blank_values=True).items()}
    try:
        return json.loads(text)
    except ValueError:
        return text


class _Handler(BaseHTTPRequestHandler):
    server: SandboxProviders

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def _handle(self, method: str) -> None:
        server = self.server
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        prefix, _, rest = self.path.lstrip("/").partition("/")
        path = "/" + rest.split("?", 1)[0]
        api = APIS.get(prefix)
        body = _parse_body(raw, self.headers.get("Content-Type") or "")
        record = server._record(
            {
                "provider": api.name if api else prefix,
                "method": method,
                "path": self.path,
                "headers": {k: v for k, v in self.headers.items() if k.lower() not in SECRET_HEADERS},
                "body": body,
                "idempotency_key": self.headers.get(api.key_header) if api else None,
                "provider_ref": None,
                "behaviour": None,
                "status": None,
                "replayed": False,
                "at": time.time(),
            }
        )
        if prefix == "sandbox" and method == "GET" and path == "/captures":
            with server.lock:
                captures = list(server.captures)
            return self._answer(record, 200, captures)
        if api is None:
            return self._answer(record, 404, {"error": f"no sandbox provider at /{prefix}"})
        ok, refusal = api.authorized(self.headers)
        if not ok:
            return self._answer(record, 401, refusal)
        route = api.route(method, path, body)
        if route is None:
            return self._answer(record, 404, api.error(404, "not_found", f"no route {method} {path}"))
        server._ensure(api.name, route.ref)
        if not route.charges:  # a status read: no behaviour, no idempotency, the object as it is now
            with server.lock:
                obj = server._objects.get((api.name, route.object_id))
                record["provider_ref"] = obj["ref"] if obj else None
                status, reply = api.read(server, route)
            return self._answer(record, status, reply)
        with server.lock:
            record["provider_ref"] = route.ref
        self._charge(api, route, method, path, body, record)

    def _charge(self, api, route, method, path, body, record) -> None:
        server = self.server
        behaviour = server._next_behaviour(route.ref)
        key = record["idempotency_key"]
        with server.lock:
            record["behaviour"] = behaviour.text
        if behaviour.kind == "error":
            return self._answer(record, behaviour.status, api.server_error(behaviour.status))
        if behaviour.kind == "rate_limit":
            return self._answer(record, 429, api.rate_limited(), {"Retry-After": f"{behaviour.seconds:g}"})
        if behaviour.kind == "reset":
            return self._reset(record)
        refusal = api.validate(body)
        if refusal:
            return self._answer(record, *refusal)
        if key is None and api.name == "yookassa":
            missing = api.error(
                400, "invalid_request", "Idempotence-Key header is required", parameter="Idempotence-Key"
            )
            return self._answer(record, 400, missing)
        fingerprint = json.dumps([method, path, body], sort_keys=True, default=str)
        claim, use = server._claim(api.name, key, fingerprint, api.replays)
        if claim == "mismatch":
            return self._answer(record, 400, api.key_reused(key))
        if claim == "conflict":
            status, reply, headers = api.in_progress(key)
            return self._answer(record, status, reply, headers)
        if claim == "replay" and use is not None:  # (a replay always comes with its key's use)
            if behaviour.kind in ("timeout", "hang"):
                time.sleep(behaviour.seconds or 0)  # (timeout and hang always carry seconds)
            replayed = {"Idempotent-Replayed": "true"}
            return self._answer(record, use.status, use.body, replayed, replayed=True)
        try:
            if behaviour.kind == "hang":
                time.sleep(behaviour.seconds or 0)  # the key is held: a concurrent request with it conflicts
            with server.lock:
                status, reply = api.execute(server, route, body, behaviour, key)
        except BaseException:
            server._finish(api.name, key, 500, None, store=False)  # never leave a key held forever
            raise
        server._finish(api.name, key, status, reply, store=api.stores(status))
        if behaviour.kind == "timeout":
            time.sleep(behaviour.seconds or 0)  # charged and stored; the answer comes too late for the client
        self._answer(record, status, reply)

    def _answer(
        self, record: dict, status: int, body: Any, headers: dict | None = None, *, replayed: bool = False
    ) -> None:
        with self.server.lock:
            record["status"], record["replayed"] = status, replayed
        html = isinstance(body, bytes)
        data = body if html else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if html else "application/json")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up waiting: its answer is lost, the charge (if any) stands

    def _reset(self, record: dict) -> None:
        with self.server.lock:
            record["status"] = "reset"
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


def environment(base_url: str) -> dict[str, str]:
    """The settings that point jobctl's providers at a sandbox serving at base_url."""
    base_url = base_url.rstrip("/")
    return {
        "JOBCTL_STRIPE_URL": f"{base_url}/stripe",
        "STRIPE_API_KEY": STRIPE_KEY,
        "JOBCTL_YOOKASSA_URL": f"{base_url}/yookassa",
        "YOOKASSA_SHOP_ID": YOOKASSA_SHOP_ID,
        "YOOKASSA_SECRET_KEY": YOOKASSA_SECRET_KEY,
        "JOBCTL_CRYPTO_URL": f"{base_url}/crypto",
        "CRYPTO_API_KEY": CRYPTO_API_KEY,
    }


def store_lookup(settings) -> Callable[[str, str], tuple[Any, int, str] | None]:
    """A lookup that finds a provider_ref among the payments of settings' store (None when absent)."""

    def find(provider: str, provider_ref: str) -> tuple[Any, int, str] | None:
        query = select(payments.c.id, payments.c.amount_cents, payments.c.currency).where(
            payments.c.provider == provider, payments.c.provider_ref == provider_ref
        )
        try:
            with get_engine(settings).connect() as conn:
                row = conn.execute(query).first()
        except (SQLAlchemyError, JobctlError):  # no store, or no payments table yet: nothing to find
            return None
        return (row.id, row.amount_cents, row.currency) if row else None

    return find


def serve_in_thread(server: SandboxProviders) -> Callable[[], None]:
    """Serve on a daemon thread; returns stop(), which shuts the server and closes its socket."""
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        daemon=True,
        name="jobctl-payment-sandbox",
    )
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():
            return  # stop() twice is harmless
        stopped.set()
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop


def start_sandbox(
    host: str = "127.0.0.1", port: int = 0, *, settings=None, settle_after: float = SETTLE_AFTER
) -> tuple[str, Callable[[], None]]:
    """Start a sandbox in this process: (base_url, stop). With settings, intents and invoices come
    from that store's payments (store_lookup). Raises OSError when the port cannot be bound."""
    server = SandboxProviders(
        host, port, settle_after=settle_after, lookup=store_lookup(settings) if settings is not None else None
    )
    return server.url, serve_in_thread(server)
