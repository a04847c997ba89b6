"""One Redis connection for every face: REDIS_URL when set, else jobctl's embedded server."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from jobctl.config import Settings, mask_url, memory_limit_bytes
from jobctl.core import embedded
from jobctl.errors import RedisUnavailable

HINT_UNREACHABLE = "start that server, fix REDIS_URL, or unset REDIS_URL to use jobctl's embedded server"


def redis_url(settings: Settings) -> str:
    """The URL of the server jobctl uses, as other RQ tools take it (`rq info -u URL`), secrets masked."""
    if settings.redis_url:
        return mask_url(settings.redis_url)
    return f"unix://{embedded.paths(settings.home_path).socket}"


def describe_target(settings: Settings) -> str:
    return redis_url(settings) + ("" if settings.redis_url else " (embedded)")


def connect(settings: Settings, *, check: bool = True) -> redis.Redis:
    """A client for the configured server, started if it is the embedded one.

    Raises RedisUnavailable (exit 3) with the URL, password masked, when it cannot be reached.
    """
    if settings.redis_url:
        refuse_remote_embedded(settings)
        try:
            client = redis.Redis.from_url(
                settings.redis_url,
                password=settings.redis_password or None,
                socket_connect_timeout=5,
                health_check_interval=30,
            )
        except ValueError as exc:
            raise RedisUnavailable(
                f"invalid REDIS_URL {mask_url(settings.redis_url)}: {exc}", HINT_UNREACHABLE
            ) from None
    else:
        refuse_remote_embedded(settings)
        socket = embedded.ensure_running(settings.home_path, embedded_maxmemory(settings))
        embedded.record_host(settings.home_path, settings.host_name)
        client = redis.Redis(unix_socket_path=str(socket), socket_connect_timeout=5)
    if check:
        ping(client, settings)
    return client


def connect_if_running(settings: Settings, timeout: float = 0.3) -> redis.Redis | None:
    """A client for the configured server when it answers within `timeout` seconds, else None.

    For callers that must stay quick and quiet (shell completion): the embedded server is used only
    when its socket is already there, never started, and no error is raised.
    """
    try:
        if settings.redis_url:
            client = redis.Redis.from_url(
                settings.redis_url,
                password=settings.redis_password or None,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
            )
        else:
            socket = embedded.paths(settings.home_path).socket
            if not socket.exists():
                return None
            client = redis.Redis(
                unix_socket_path=str(socket), socket_connect_timeout=timeout, socket_timeout=timeout
            )
        client.ping()
    except (redis.RedisError, ValueError, OSError):
        return None
    return client


def refuse_remote_embedded(settings: Settings) -> None:
    """ConfigError (exit 2) when the embedded server this would use belongs to another host: the state
    folder's (REDIS_URL unset) or the one a unix:// REDIS_URL names. See core/embedded.py."""
    if not settings.redis_url:
        embedded.check_host(settings.home_path, settings.host_name)
    elif settings.redis_url.startswith("unix://"):
        embedded.check_socket_host(Path(urlsplit(settings.redis_url).path), settings.host_name)


def embedded_maxmemory(settings: Settings) -> int:
    """JOBCTL_EMBEDDED_MAXMEMORY in bytes, a share of RAM worked out on this machine."""
    return memory_limit_bytes(settings.embedded_maxmemory)


def ping(client: redis.Redis, settings: Settings) -> None:
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise RedisUnavailable(
            f"Redis at {describe_target(settings)} refused the password: {exc}",
            "check REDIS_PASSWORD or the password in REDIS_URL",
        ) from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise RedisUnavailable(
            f"cannot reach Redis at {describe_target(settings)}: {exc}", HINT_UNREACHABLE
        ) from None


def decoded(reply: bytes | str) -> str:
    """A member, field or value read from Redis, as str. jobctl's clients leave decode_responses off, so
    replies arrive as bytes; redis-py annotates them bytes | str for clients that turn it on."""
    return reply if isinstance(reply, str) else reply.decode()


def decoded_members(reply: Iterable[Any]) -> list[str]:
    """The members of a set, or of a sorted-set range read without scores, as str. (redis-py annotates a
    range reply with the score pairs WITHSCORES would add.)"""
    return [decoded(m) for m in reply]
