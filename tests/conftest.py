"""Shared fixtures: a real Redis for every test, isolated by a key prefix, never flushed; the CLI.

RQ reads RQ_KEY_PREFIX once at import, so each pytest process picks its own prefix before
anything imports rq; every test then deletes only the keys under that prefix.

The fixtures that several test folders use live in helper modules next to what they start
(servers, keys, databases, the payment sandbox) and are registered here, once, as plugins:
a test asks for them by name and never imports them.
"""

from __future__ import annotations

import os
import uuid

os.environ["RQ_KEY_PREFIX"] = f"jt-{uuid.uuid4().hex[:10]}"
for _name in list(os.environ):
    # the developer's own jobctl settings must not leak into tests
    if _name.startswith("JOBCTL_") or _name in {
        "EMAIL_PROVIDER",
        "SENDGRID_API_KEY",
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_USER",
        "SMTP_PASSWORD",
        "EMAIL_FROM",
        "REDIS_PASSWORD",
        "MAX_FILE_SIZE",
        "ALLOWED_FILE_TYPES",
    }:
        del os.environ[_name]
# the suite's drills (sleep, fail, flaky) are test-only job types, off by default; the tests that show
# them refused override this (tests/test_test_job_types.py). Subprocesses inherit it.
os.environ["JOBCTL_TEST_JOB_TYPES"] = "1"

import json  # noqa: E402

import pytest  # noqa: E402
import redis  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from jobctl.cli.app import app  # noqa: E402

KEY_PREFIX = os.environ["RQ_KEY_PREFIX"]

# imported after the prefix is set (pytest imports these once this module has run)
pytest_plugins = [
    "tests.servers",
    "tests.encryption",
    "tests.databases",
    "tests.jobs.payments.fake_providers",
]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """REDIS_URL from the environment when set, else a jobctl embedded server for this session."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    from jobctl.core import embedded

    home = tmp_path_factory.mktemp("embedded")
    socket = embedded.ensure_running(home)
    yield f"unix://{socket}"
    embedded.stop(home)


def delete_prefixed_keys(client: redis.Redis, prefix: str = KEY_PREFIX) -> int:
    deleted = 0
    batch = []
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += client.unlink(*batch)
            batch.clear()
    if batch:
        deleted += client.unlink(*batch)
    return deleted


@pytest.fixture(autouse=True)
def jobctl_env(redis_url, tmp_path, monkeypatch):
    """Each test: its own state folder and working directory, the shared server, clean keys after."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("JOBCTL_HOME", str(home))
    # tests write their uploads into their own folder: that is the one place file jobs may read
    monkeypatch.setenv("JOBCTL_FILE_ROOTS", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.chdir(tmp_path)
    from jobctl.core import runtime

    runtime.reset()
    yield home
    runtime.reset()
    client = redis.Redis.from_url(redis_url)
    try:
        delete_prefixed_keys(client)
    finally:
        client.close()


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def settings(jobctl_env):
    from jobctl.config import load_settings

    return load_settings()


class Cli:
    """Runs jobctl in process; a call checks the exit code and that no traceback was printed."""

    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, code: int = 0):
        result = self.runner.invoke(app, list(args), input=input)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
        assert "Traceback" not in result.stdout + result.stderr
        return result

    def json(self, *args: str, code: int = 0):
        return json.loads(self(*args, "--json", code=code).stdout)


@pytest.fixture
def cli():
    return Cli()
