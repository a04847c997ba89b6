"""jobctl/__init__.py defers `redis.asyncio` (which redis' own __init__ imports) to its first use.
Checked in a fresh interpreter, where `import jobctl` comes before redis as in every jobctl process:
nothing of the asyncio client loads with redis, and every way of reaching it gives the real thing."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import asyncio, os, sys
import jobctl
import redis
assert "redis.asyncio.client" not in sys.modules, "redis.asyncio ran with import redis"
assert redis.asyncio is sys.modules["redis.asyncio"]
import redis.asyncio.connection  # a submodule imports on its own, the package still deferred
assert "Redis" not in vars(redis.asyncio)
from redis.asyncio import Redis, from_url  # the first attribute read runs the package
import redis.asyncio.client
assert Redis is redis.asyncio.client.Redis is redis.asyncio.Redis
assert "Redis" in redis.asyncio.__all__ and hasattr(redis.asyncio, "Sentinel")
try:
    redis.asyncio.NoSuchThing
except AttributeError:
    pass
else:
    raise AssertionError("a missing name must raise AttributeError")

async def ping():
    client = from_url(os.environ["REDIS_URL"])
    try:
        return await client.ping()
    finally:
        await client.aclose()

assert asyncio.run(ping()) is True
print("ok")
"""


def test_redis_asyncio_loads_on_first_use_and_works(redis_url):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "ok"), proc.stderr


def test_nothing_is_deferred_once_redis_is_loaded():
    script = "import redis, sys; import jobctl; assert 'redis.asyncio.client' in sys.modules; print('ok')"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout.strip()) == (0, "ok"), proc.stderr
