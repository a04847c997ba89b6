"""The HTTP API in process (Starlette's TestClient over the real app), real Redis, real tokens."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from jobctl.config import load_settings
from jobctl.core import tokens
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.worker import JobctlJob, JobctlWorker
from jobctl.http import create_app
from tests.rq_plain import PlainWorker

WHO = ("none", "bad", "revoked", "viewer", "operator", "admin")
UNAUTHENTICATED = ("none", "bad", "revoked")
BAD_TOKEN = "jct_" + "A" * 43


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture
def app(settings, redis_client):
    return create_app(settings, redis_client)


@pytest.fixture
def client(app):
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def creds(redis_client, settings) -> dict[str, str | None]:
    """A token per role (named viewer-token, ...), one revoked admin token, one never issued, none."""
    made = {
        role: tokens.create_token(redis_client, settings, f"{role}-token", role)["token"]
        for role in tokens.ROLES
    }
    revoked = tokens.create_token(redis_client, settings, "old-admin", "admin")["token"]
    tokens.revoke_token(redis_client, settings, "old-admin")
    return {"none": None, "bad": BAD_TOKEN, "revoked": revoked, **made}


@pytest.fixture
def admin(creds) -> dict[str, str]:
    return bearer(creds["admin"])


def failed_jobs(conn, tmp_path, n: int, queue: str = "payment-retry") -> list[str]:
    """n jobs in RQ's failed registry: one attempt (jobctl.toml), run by a plain RQ worker."""
    (tmp_path / "jobctl.toml").write_text(f"[queues.{queue}]\nattempts = 1\n")
    one_try = load_settings()
    (tmp_path / "jobctl.toml").unlink()
    ids = enqueue_many(conn, one_try, "fail", [{}] * n, queue=queue)
    PlainWorker(
        [rq_queue(conn, p) for p in queue_catalog(one_try)[queue].physical_names],
        connection=conn,
        serializer=PayloadSerializer,
    ).work(burst=True)
    return ids


def dead_jobs(conn, settings, n: int, queue: str = "payment-retry") -> list[str]:
    """n dead-letter entries: non-retryable failures run by an in-process jobctl worker."""
    ids = enqueue_many(conn, settings, "fail", [{"message": f"boom {i}"} for i in range(n)], queue=queue)
    JobctlWorker(
        [rq_queue(conn, q) for q in queue_catalog(settings)[queue].physical_names],
        connection=conn,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)
    return ids
