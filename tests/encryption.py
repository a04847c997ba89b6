"""Helpers for the encryption tests: switching this process's keys, running a burst worker, and
reading every value stored under this test process's key prefix. The fixtures are registered for the
whole suite by tests/conftest.py; the functions are imported."""

from __future__ import annotations

import base64
import binascii
import zlib

import pytest
import redis

from jobctl.config import load_settings
from jobctl.core import runtime
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer, generate_key
from jobctl.core.worker import JobctlJob, JobctlWorker
from tests.conftest import KEY_PREFIX


@pytest.fixture
def use_keys(monkeypatch):
    """use_keys(KEY, ...) sets JOBCTL_ENCRYPTION_KEYS (none: unset) for this process; returns the settings."""

    def use(*keys: str):
        if keys:
            monkeypatch.setenv("JOBCTL_ENCRYPTION_KEYS", ",".join(keys))
        else:
            monkeypatch.delenv("JOBCTL_ENCRYPTION_KEYS", raising=False)
        runtime.reset()  # the serializer reads the process's settings
        settings = load_settings()
        runtime.install(settings)
        return settings

    return use


@pytest.fixture
def key_a() -> str:
    return generate_key()


@pytest.fixture
def key_b() -> str:
    return generate_key()


def burst_worker(connection: redis.Redis, settings, *queues: str) -> JobctlWorker:
    """Run an in-process jobctl worker over `queues` (all priorities) until they are empty."""
    physical = [name for q in queues for name in queue_catalog(settings)[q].physical_names]
    worker = JobctlWorker(
        [rq_queue(connection, q) for q in physical],
        connection=connection,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    )
    worker.work(burst=True)
    return worker


def _forms(value: bytes) -> list[bytes]:
    """A stored value as it is, zlib-decompressed, base64-decoded (and that decompressed) where they apply."""
    forms = [value]
    try:
        forms.append(zlib.decompress(value))
    except zlib.error:
        pass
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return forms
    forms.append(decoded)
    try:
        forms.append(zlib.decompress(decoded))
    except zlib.error:
        pass
    return forms


def everything_stored(client: redis.Redis, prefix: str = KEY_PREFIX) -> bytes:
    """Every key name and every value under `prefix`, read by type, in all the forms of _forms."""
    chunks: list[bytes] = []
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        chunks.append(key)
        kind = client.type(key).decode()
        if kind == "string":
            values = [client.get(key)]
        elif kind == "hash":
            values = [x for pair in client.hgetall(key).items() for x in pair]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            values = [x for _, fields in client.xrange(key) for pair in fields.items() for x in pair]
        else:
            raise AssertionError(f"unexpected type {kind} of {key!r}")
        for value in values:
            if value is not None:
                chunks.extend(_forms(value))
    return b"\n".join(chunks)
