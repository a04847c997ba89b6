"""Provider `yookassa`: a new payment from the customer's saved payment method, captured at once.

`POST {yookassa_url}/v3/payments` (HTTP Basic auth shop_id:secret_key) with the amount as a decimal
string, `capture: true` and `payment_method_id` = the payment's provider_ref.

Unlike a Stripe confirm, every such POST is a new charge: the Idempotence-Key is the only thing that
stops a retry from charging twice. YooKassa answers a repeated key with the first answer, so after a
timeout the retry gets the original payment back. A repeated answer can be stale ("pending"), so a
payment that is not final is looked up again (GET /v3/payments/{id}) for its current state.
A request with the key still being processed gets HTTP 202 with `retry_after` (milliseconds).
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote

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
    same_amount,
)

MAX_DESCRIPTION = 128
NOT_FINAL = ("pending", "waiting_for_capture")


class YooKassaProvider(Provider):
    name = "yookassa"
    label = "YooKassa"
    url_setting, url_env = "yookassa_url", "JOBCTL_YOOKASSA_URL"
    ref_name = "saved payment method id"
    ref_hint = "store the payment_method_id in payments.provider_ref"
    max_key = 64  # YooKassa's limit on Idempotence-Key

    def credentials(self, settings):
        shop_id = require_setting(
            self.label, settings.yookassa_shop_id, "YOOKASSA_SHOP_ID", "the YooKassa shop id"
        )
        secret = require_setting(
            self.label, settings.yookassa_secret_key, "YOOKASSA_SECRET_KEY", "the YooKassa secret key"
        )
        token = base64.b64encode(f"{shop_id}:{secret}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}, (secret, token)

    def settle(self, request: ChargeRequest, ref: str) -> ChargeResult:
        body = {
            "amount": {"value": major_units(request.amount_cents), "currency": request.currency.upper()},
            "capture": True,
            "payment_method_id": ref,
            "description": (request.description or f"payment {request.payment_id}")[:MAX_DESCRIPTION],
            "metadata": {"payment_id": str(request.payment_id), "customer_id": str(request.customer_id)},
        }
        reply = self.api.request(
            "POST",
            "/v3/payments",
            body=json.dumps(body).encode(),
            headers={
                **self.auth,
                "Idempotence-Key": request.idempotency_key,
                "Content-Type": "application/json",
            },
        )
        payment = self._payment(reply)
        if payment["status"] in NOT_FINAL and isinstance(payment.get("id"), str):
            path = f"/v3/payments/{quote(payment['id'], safe='')}"
            payment = self._payment(self.api.request("GET", path, headers=self.auth))
        return self._outcome(payment, request)

    def _payment(self, reply: Reply) -> dict[str, Any]:
        """The payment object in a reply, or the failure the reply stands for."""
        data = reply.data if isinstance(reply.data, dict) else {}
        if reply.status == 202:  # the first request with this key is still being processed
            wait = data.get("retry_after")
            seconds = reply.retry_after
            if isinstance(wait, int | Decimal) and not isinstance(wait, bool) and wait >= 0:
                seconds = float(Decimal(wait) / 1000)
            raise ProviderUnavailable(
                f"{self.label} replied 202: the request is still being processed; asking "
                "again later with the same key",
                retry_after=seconds,
            )
        if 200 <= reply.status < 300:
            if not isinstance(data.get("status"), str) or not data.get("id"):
                raise self.api.unreadable(reply)
            return data
        detail = " ".join(str(p) for p in (data.get("code"), data.get("parameter")) if p)
        description = self.api.redact(str(data.get("description") or ""))
        raise self.api.failure(
            reply,
            f"{detail}: {description}" if description else detail,
            credentials="YOOKASSA_SHOP_ID and YOOKASSA_SECRET_KEY",
        )

    def _outcome(self, payment: dict[str, Any], request: ChargeRequest) -> ChargeResult:
        status, payment_id = payment["status"], str(payment["id"])
        if status == "succeeded":
            amount = payment.get("amount")
            if not isinstance(amount, dict):
                amount = {}
            value, currency = amount.get("value"), str(amount.get("currency") or "")
            if not same_amount(value, request.amount_cents) or currency.upper() != request.currency.upper():
                raise mismatch(self.label, request, f"payment {payment_id}", value, currency)
            return ChargeResult(self.name, payment_id, "succeeded", status)
        if status in NOT_FINAL:
            raise ProviderUnavailable(f"{self.label}: payment {payment_id} is {status}; asking again later")
        if status == "canceled":
            details = payment.get("cancellation_details") or {}
            reason = str(details.get("reason") or "canceled")
            raise PaymentDeclined(
                f"{self.label} canceled payment {payment_id} for payment {request.payment_id} "
                f"({details.get('party') or 'unknown party'}: {reason})",
                reason=reason,
            )
        raise ProviderRejected(
            f"{self.label}: payment {payment_id} has the unexpected status {status!r}",
            hint="check it in the YooKassa dashboard",
        )
