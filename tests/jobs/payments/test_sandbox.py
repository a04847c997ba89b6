"""The packaged payment sandbox as the demo and `jobctl payments sandbox` use it: start_sandbox, its
environment, refs that always decline, the store lookup, the captures endpoint, the command."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from jobctl.config import load_settings
from jobctl.data import engine_for
from jobctl.jobs.payments.providers import get_provider
from jobctl.jobs.payments.providers.base import ChargeRequest, PaymentDeclined
from jobctl.jobs.payments.sandbox import environment, start_sandbox
from tests.jobs.payments.store import make_payment

REFS = {"stripe": "pi_seed_7", "yookassa": "pm_seed_7", "crypto": "inv_seed_7"}


@pytest.fixture
def sandbox(monkeypatch):
    """A sandbox over the test's store, and settings whose providers point at it."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    base_url, stop = start_sandbox(settings=load_settings())
    for name, value in environment(base_url).items():
        monkeypatch.setenv(name, value)
    yield base_url
    stop()


def captures(base_url: str) -> list[dict]:
    with urllib.request.urlopen(f"{base_url}/sandbox/captures", timeout=5) as reply:
        return json.load(reply)


def charge(provider: str, ref: str, key: str = "jobctl-pay-7-r1"):
    request = ChargeRequest(
        payment_id=7,
        provider_ref=ref,
        amount_cents=2599,
        currency="USD",
        customer_id=2,
        idempotency_key=key,
        description="order 107",
    )
    return get_provider(provider, load_settings()).charge(request)


@pytest.mark.parametrize("provider", ["stripe", "yookassa", "crypto"])
def test_a_stored_payments_ref_is_charged_once_per_key(sandbox, provider):
    make_payment(
        engine_for(load_settings()),
        provider=provider,
        provider_ref=REFS[provider],
        payment_id=7,
        amount_cents=2599,
    )
    first = charge(provider, REFS[provider])
    again = charge(provider, REFS[provider])  # the same key: the first answer, no second capture
    assert first.status == again.status == "succeeded"
    assert first.provider_payment_id == again.provider_payment_id
    [capture] = captures(sandbox)
    assert (capture["provider"], capture["payment_id"], capture["amount_cents"]) == (provider, 7, 2599)


@pytest.mark.parametrize(
    ("provider", "reason"),
    [("stripe", "insufficient_funds"), ("yookassa", "insufficient_funds"), ("crypto", "invoice_underpaid")],
)
def test_a_ref_ending_in_decline_is_declined_every_time(sandbox, provider, reason):
    ref = f"{REFS[provider]}_decline_insufficient_funds"
    make_payment(
        engine_for(load_settings()), provider=provider, provider_ref=ref, payment_id=7, amount_cents=2599
    )
    for key in ("jobctl-pay-7-r1", "jobctl-pay-7-r2"):  # a new round is declined too
        with pytest.raises(PaymentDeclined) as declined:
            charge(provider, ref, key)
        assert declined.value.reason == reason
    assert captures(sandbox) == []


def test_an_unknown_intent_is_404_like_the_real_api(sandbox):
    from jobctl.jobs.payments.providers.base import ProviderRejected

    with pytest.raises(ProviderRejected, match="404"):
        charge("stripe", "pi_nobody_made_this")
    assert captures(sandbox) == []


def test_stop_frees_the_port_and_twice_is_harmless():
    base_url, stop = start_sandbox()
    port = int(base_url.rsplit(":", 1)[1])
    stop()
    stop()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))  # would raise if the sandbox still held it


def test_the_command_prints_its_settings_serves_and_stops_on_sigterm(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobctl", "payments", "sandbox", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        printed = json.loads("".join(iter(proc.stdout.readline, "}\n")) + "}")
        assert printed["environment"] == environment(printed["url"])
        assert printed["environment"]["JOBCTL_STRIPE_URL"] == printed["url"] + "/stripe"
        assert captures(printed["url"]) == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert "payment sandbox stopped (0 captures)" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_the_command_refuses_a_busy_port_in_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "jobctl", "payments", "sandbox", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert result.stderr.startswith(f"jobctl: error: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in result.stderr and result.stdout == ""
