"""The `fake_provider` fixture: the packaged payment sandbox (jobctl.jobs.payments.sandbox) for one
test, with jobctl's provider settings pointing at it. Registered for the whole suite by tests/conftest.py."""

from __future__ import annotations

import os

import pytest

from jobctl.jobs.payments.sandbox import SandboxProviders
from tests.servers import serve


class _CurrentStore:
    """store_lookup for whatever the settings are when the sandbox asks (tests change them midway)."""

    def __call__(self, provider: str, provider_ref: str):
        from jobctl.core import runtime
        from jobctl.jobs.payments.sandbox import store_lookup

        return store_lookup(runtime.settings())(provider, provider_ref)


@pytest.fixture
def fake_provider(monkeypatch):
    """A running SandboxProviders; Stripe, YooKassa and crypto settings (URLs, credentials) point at it.

    Intents and invoices not registered with add_intent/add_invoice come from the jobctl store's
    payments (the current runtime settings' store).

    JOBCTL_PAYMENT_TIMEOUT is set to 1 s unless the test set it already, so `timeout:` behaviours
    cost a second, not thirty. Worker processes started after this inherit the environment."""
    from jobctl.core import runtime

    server = SandboxProviders(lookup=_CurrentStore())
    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)
    if "JOBCTL_PAYMENT_TIMEOUT" not in os.environ:
        monkeypatch.setenv("JOBCTL_PAYMENT_TIMEOUT", "1")
    runtime.reset()
    yield from serve(server, monkeypatch)
    runtime.reset()
