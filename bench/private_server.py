"""A private embedded server for a bench: a temporary home, settings that point at its socket and a
client; stopped and removed afterwards, however the bench ends (bench/dash.py, bench/web.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from jobctl.config import Settings, load_settings
from jobctl.core import embedded


@contextmanager
def private_embedded(name: str) -> Iterator[tuple[Settings, redis.Redis]]:
    home = Path(tempfile.mkdtemp(prefix=f"jobctl-bench-{name}-"))
    try:
        socket = embedded.ensure_running(home)
        settings = load_settings(
            environ={**os.environ, "JOBCTL_HOME": str(home), "REDIS_URL": f"unix://{socket}"}
        )
        yield settings, redis.Redis.from_url(f"unix://{socket}")
    finally:
        embedded.stop(home)
        shutil.rmtree(home, ignore_errors=True)
