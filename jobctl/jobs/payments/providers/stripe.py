"""Provider `stripe`: confirm the payment's PaymentIntent, off-session.

`POST {stripe_url}/v1/payment_intents/{provider_ref}/confirm` with `off_session=true` (the customer is
not there to authenticate: Stripe fails fast with authentication_required instead of waiting).
The PaymentIntent was created at checkout and carries the amount; the confirm body carries none, so
the amount and currency Stripe returns are checked against the payment before it counts as paid.

Stripe stores the answer to the first request with an Idempotency-Key and replays it to later
requests with that key: a confirm re-sent after a timeout returns the original outcome rather than
charging again. A replayed answer is the state at the first request, so a "processing" intent is
looked up again (GET) for its current state. A confirm with a new key on an intent that already
succeeded is refused by Stripe (payment_intent_unexpected_state) with the intent attached: that is
read as the earlier success, never as a second charge.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from jobctl.jobs.payments.providers.base import (
    ChargeRequest,
    ChargeResult,
    PaymentDeclined,
    Provider,
    ProviderRejected,
    ProviderUnavailable,
    Reply,
    major_units,
    mismatch,
    require_setting,
)


class StripeProvider(Provider):
    name = "stripe"
    label = "Stripe"
    url_setting, url_env = "stripe_url", "JOBCTL_STRIPE_URL"
    ref_name = "PaymentIntent id"
    ref_hint = "store its pi_... id in payments.provider_ref"

    def credentials(self, settings):
        key = require_setting(self.label, settings.stripe_api_key, "STRIPE_API_KEY", "the Stripe secret key")
        return {"Authorization": f"Bearer {key}"}, (key,)

    def settle(self, request: ChargeRequest, ref: str) -> ChargeResult:
        path = f"/v1/payment_intents/{quote(ref, safe='')}"
        reply = self.api.request(
            "POST",
            path + "/confirm",
            body=urlencode({"off_session": "true"}).encode(),
            headers={
                **self.auth,
                "Idempotency-Key": request.idempotency_key,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        intent = self._intent(reply, request)
        if intent.get("status") == "processing":
            intent = self._intent(self.api.request("GET", path, headers=self.auth), request)
        return self._outcome(intent, request)

    def _intent(self, reply: Reply, request: ChargeRequest) -> dict[str, Any]:
        """The PaymentIntent in a reply, or the failure the reply stands for."""
        data = reply.data if isinstance(reply.data, dict) else {}
        if 200 <= reply.status < 300:
            is_intent = data.get("object", "payment_intent") == "payment_intent"
            if not is_intent or not isinstance(data.get("status"), str):
                raise self.api.unreadable(reply)
            return data
        error = data.get("error")
        if not isinstance(error, dict):
            error = {}
        code = error.get("code")
        detail = " ".join(str(p) for p in (error.get("type"), code, error.get("decline_code")) if p)
        message = self.api.redact(str(error.get("message") or ""))
        if reply.status == 402:
            reason = error.get("decline_code") or code or "card_declined"
            raise PaymentDeclined(
                f"{self.label} declined payment {request.payment_id} (402 {detail}): {message}",
                reason=str(reason),
            )
        attached = error.get("payment_intent")
        if (
            code == "payment_intent_unexpected_state"
            and isinstance(attached, dict)
            and attached.get("status") in ("succeeded", "processing")
        ):
            return attached  # confirmed before, under another key: its state is the outcome
        raise self.api.failure(
            reply, f"{detail}: {message}" if message else detail, credentials="STRIPE_API_KEY"
        )

    def _outcome(self, intent: dict[str, Any], request: ChargeRequest) -> ChargeResult:
        status, intent_id = intent["status"], str(intent.get("id") or request.provider_ref)
        if status == "succeeded":
            received = intent.get("amount_received")
            amount = received if received is not None else intent.get("amount")
            currency = str(intent.get("currency") or "")
            if amount != request.amount_cents or currency.upper() != request.currency.upper():
                if isinstance(amount, int) and not isinstance(amount, bool):  # cents: shown as units
                    amount = major_units(amount)
                raise mismatch(
                    self.label,
                    request,
                    f"PaymentIntent {intent_id}",
                    amount,
                    currency.upper(),
                )
            return ChargeResult(self.name, intent_id, "succeeded", status)
        if status == "processing":
            raise ProviderUnavailable(
                f"{self.label}: PaymentIntent {intent_id} is still processing; asking again later"
            )
        if status == "requires_action":
            raise PaymentDeclined(
                f"{self.label}: PaymentIntent {intent_id} needs the customer to authenticate "
                "(requires_action)",
                reason="requires_action",
            )
        if status == "requires_payment_method":
            error = intent.get("last_payment_error") or {}
            reason = str(error.get("decline_code") or error.get("code") or "card_declined")
            message = self.api.redact(str(error.get("message") or "the payment method was declined"))
            raise PaymentDeclined(
                f"{self.label} declined payment {request.payment_id} (PaymentIntent {intent_id} "
                f"requires_payment_method, {reason}): {message}",
                reason=reason,
            )
        raise ProviderRejected(
            f"{self.label}: PaymentIntent {intent_id} is {status!r} after confirming",
            hint="jobctl confirms automatic-capture intents; settle this one in the Stripe dashboard",
        )
