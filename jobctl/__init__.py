"""jobctl: operations toolkit for a marketplace's background jobs, on RQ over Redis.

Library use: `from jobctl import add_email_job, add_bulk_email_jobs, add_file_processing_job, process_file`.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import threading
from typing import Any

from jobctl.errors import JobctlError


def _defer_redis_asyncio() -> None:
    """Make `redis.asyncio` load on first use instead of with `import redis`.

    redis' own __init__ runs `from redis import asyncio`, which imports the asyncio client, cluster
    and sentinel classes: about 12 ms that every CLI command and worker would pay, though jobctl
    uses only the synchronous client (a library caller may use the other). Before redis is first
    imported, `redis.asyncio` is registered as its real module object, not yet executed: `from
    redis import asyncio` then finds it in sys.modules. Its module __getattr__ runs the package's
    code on the first attribute read (`redis.asyncio.Redis`, `from redis.asyncio import ...`),
    after which it is the ordinary module; submodules such as redis.asyncio.client import as
    usual, since its __path__ is set. Nothing is done when redis is imported already or is not
    installed. tests/test_redis_asyncio_deferred.py checks each way of reaching it.
    """
    if "redis" in sys.modules or "redis.asyncio" in sys.modules:
        return
    package = importlib.util.find_spec("redis")  # a top-level name: found, not imported
    if package is None or not package.submodule_search_locations:
        return
    spec = importlib.machinery.PathFinder.find_spec("redis.asyncio", package.submodule_search_locations)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader
    lock = threading.RLock()

    def load(name: str) -> Any:
        with lock:
            if module.__dict__.get("__getattr__") is load:
                del module.__dict__["__getattr__"]  # the real code runs once; its own names win
                try:
                    loader.exec_module(module)
                except BaseException:
                    module.__dict__["__getattr__"] = load  # the next use fails the same way
                    raise
        try:
            return module.__dict__[name]
        except KeyError:
            raise AttributeError(f"module 'redis.asyncio' has no attribute {name!r}") from None

    module.__dict__["__getattr__"] = load
    sys.modules["redis.asyncio"] = module


_defer_redis_asyncio()

__version__ = "0.1.0"
API = (
    "add_job",
    "add_email_job",
    "add_bulk_email_jobs",
    "send_email_campaign",
    "add_file_processing_job",
    "process_file",
    "add_analytics_job",
    "schedule_custom_analytics",
    "add_report_job",
    "add_payment_retry_job",
    "add_referral_commission_job",
)
__all__ = [*API, "JobctlError", "__version__"]  # noqa: PLE0604 - API is a tuple of names


def __getattr__(name: str) -> Any:
    if name in API:
        # lazy: `import jobctl`, which every jobctl module and worker does first, stays free of Redis and RQ
        from jobctl import api

        return getattr(api, name)
    raise AttributeError(f"module 'jobctl' has no attribute {name!r}")
