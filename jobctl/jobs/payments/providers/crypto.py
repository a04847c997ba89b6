"""Provider `crypto`: read the payment's invoice from a generic crypto gateway's invoice-status API.

`GET {crypto_url}/v1/invoices/{provider_ref}` with `X-Api-Key`. The customer pays the invoice on
the blockchain; we only observe it, so a read is safe to repeat and cannot charge twice. The
Idempotency-Key is sent anyway so the gateway can tie our reads to one payment round.

Amount check: an invoice is usually priced in a coin ("12.34" USDT) for a fiat payment (12.34 USD).
When the invoice carries `fiat_amount`/`fiat_currency` those must equal the payment; without them,
`amount`/`currency` must, so a coin-only invoice for a fiat payment is refused rather than guessed
at (we do not convert at some exchange rate).
"""

from __future__ import annotations

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
    mismatch,
    require_setting,
    same_amount,
)

WAITING = ("pending", "confirming")
DECLINED = ("expired", "underpaid", "cancelled", "canceled")


class CryptoProvider(Provider):
    name = "crypto"
    label = "crypto gateway"
    url_setting, url_env = "crypto_url", "JOBCTL_CRYPTO_URL"
    ref_name = "invoice id"
    ref_hint = "store the invoice id in payments.provider_ref"

    def credentials(self, settings):
        key = require_setting(self.label, settings.crypto_api_key, "CRYPTO_API_KEY", "the gateway's API key")
        return {"X-Api-Key": key}, (key,)

    def settle(self, request: ChargeRequest, ref: str) -> ChargeResult:
        reply = self.api.request(
            "GET",
            f"/v1/invoices/{quote(ref, safe='')}",
            headers={**self.auth, "Idempotency-Key": request.idempotency_key},
        )
        return self._outcome(self._invoice(reply), reply, request)

    def _invoice(self, reply: Reply) -> dict[str, Any]:
        data = reply.data if isinstance(reply.data, dict) else {}
        if 200 <= reply.status < 300:
            if not isinstance(data.get("status"), str):
                raise self.api.unreadable(reply)
            return data
        error = data.get("error")
        if not isinstance(error, dict):
            error = data
        code = error.get("code")
        message = self.api.redact(str(error.get("message") or ""))
        detail = f"{code}: {message}" if code and message else str(code or message or "")
        raise self.api.failure(reply, detail, credentials="CRYPTO_API_KEY")

    def _outcome(self, invoice: dict[str, Any], reply: Reply, request: ChargeRequest) -> ChargeResult:
        status, invoice_id = invoice["status"], str(invoice.get("id") or request.provider_ref)
        if status == "paid":
            if invoice.get("fiat_currency") is not None:
                amount, currency = invoice.get("fiat_amount"), str(invoice.get("fiat_currency"))
            else:
                amount, currency = invoice.get("amount"), str(invoice.get("currency") or "")
            if not same_amount(amount, request.amount_cents) or currency.upper() != request.currency.upper():
                raise mismatch(self.label, request, f"invoice {invoice_id}", amount, currency)
            return ChargeResult(self.name, invoice_id, "succeeded", status)
        if status in WAITING:
            wait = invoice.get("retry_after")
            retry_after = reply.retry_after
            if isinstance(wait, int | Decimal) and not isinstance(wait, bool) and wait >= 0:
                retry_after = float(wait)
            raise ProviderUnavailable(
                f"{self.label}: invoice {invoice_id} is {status}; asking again later",
                retry_after=retry_after,
            )
        if status in DECLINED:
            word = "cancelled" if status == "canceled" else status
            raise PaymentDeclined(
                f"{self.label}: invoice {invoice_id} for payment {request.payment_id} is {status}",
                reason=f"invoice_{word}",
            )
        raise ProviderRejected(
            f"{self.label}: invoice {invoice_id} has the unexpected status {status!r}",
            hint="check it in the gateway's dashboard",
        )
