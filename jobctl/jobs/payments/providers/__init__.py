"""Payment provider adapters, one interface (base.Provider) over Stripe, YooKassa and a crypto gateway.

Each speaks its provider's own HTTP API at a configurable base URL (JOBCTL_STRIPE_URL, ...) and
turns every outcome into a ChargeResult or one of PaymentDeclined, ProviderUnavailable and
ProviderRejected (see base.py for what the payment job does with each).
"""

from __future__ import annotations

from jobctl.errors import UsageError
from jobctl.jobs.payments.providers.base import Provider
from jobctl.jobs.payments.providers.crypto import CryptoProvider
from jobctl.jobs.payments.providers.stripe import StripeProvider
from jobctl.jobs.payments.providers.yookassa import YooKassaProvider

PROVIDERS = ("stripe", "yookassa", "crypto")


def get_provider(name: str, settings) -> Provider:
    """The adapter for `name`; raises ProviderRejected when its credentials or URL are not set."""
    if name == "stripe":
        return StripeProvider(settings)
    if name == "yookassa":
        return YooKassaProvider(settings)
    if name == "crypto":
        return CryptoProvider(settings)
    raise UsageError(f"unknown payment provider {name!r}", f"use one of {', '.join(PROVIDERS)}")
