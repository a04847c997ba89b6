"""JOBCTL_ENQUEUE_REPLICAS: an enqueue WAITs for replicas; without them it says so and still queues."""

from __future__ import annotations

import logging
import time

from jobctl.config import load_settings
from jobctl.core.bulk import enqueue_many
from jobctl.core.enqueue import REPLICA_WAIT_MS


def test_without_replicas_an_enqueue_waits_its_bound_logs_and_queues(monkeypatch, redis_client, caplog):
    monkeypatch.setenv("JOBCTL_ENQUEUE_REPLICAS", "1")
    settings = load_settings()
    assert settings.enqueue_replicas == 1
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="jobctl.enqueue"):
        ids = enqueue_many(redis_client, settings, "noop", [{}] * 3, queue="email-sending")
    waited = time.monotonic() - started
    assert len(ids) == 3 and all(redis_client.exists(f"{_prefix()}:job:{i}") for i in ids)
    assert REPLICA_WAIT_MS / 1000 * 0.9 <= waited < REPLICA_WAIT_MS / 1000 + 5
    assert "0 of 1 replica(s) confirmed" in caplog.text


def test_by_default_an_enqueue_does_not_wait(redis_client, settings, caplog):
    assert settings.enqueue_replicas == 0
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="jobctl.enqueue"):
        enqueue_many(redis_client, settings, "noop", [{}] * 3, queue="email-sending")
    assert time.monotonic() - started < REPLICA_WAIT_MS / 1000 and "replica" not in caplog.text


def _prefix() -> str:
    import os

    return os.environ["RQ_KEY_PREFIX"]
