"""Payments: retrying a payment through its provider without ever charging the customer twice.

`job` is the payment-retry job (the payment row as the lock, the idempotency key as the proof);
`providers` are the adapters that speak to Stripe, YooKassa and the crypto gateway; `sandbox` is a
loopback fake of all three (`jobctl payments sandbox`, the demo, the tests).
"""
