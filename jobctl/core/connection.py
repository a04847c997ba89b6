"""One Redis connection for every face: REDIS_URL when set, else jobctl's embedded server."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from jobctl.config import Settings, mask_url, memory_limit_bytes
from jobctl.core import embedded
from jobctl.errors import ConfigError, JobctlError, RedisUnavailable

HINT_UNREACHABLE = "start that server, fix REDIS_URL, or unset REDIS_URL to use jobctl's embedded server"
HINT_ACL = 'grant that Redis user the ACL in the README\'s "TLS and ACL users" section'


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
                **tls_options(settings),
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
                **tls_options(settings),
            )
        else:
            socket = embedded.paths(settings.home_path).socket
            if not socket.exists():
                return None
            client = redis.Redis(
                unix_socket_path=str(socket), socket_connect_timeout=timeout, socket_timeout=timeout
            )
        client.ping()
    except (redis.RedisError, ValueError, OSError, ConfigError):
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
    except redis.exceptions.NoPermissionError as exc:
        raise permission_refused(exc) from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise RedisUnavailable(
            f"cannot reach Redis at {describe_target(settings)}: {exc}", _unreachable_hint(str(exc), settings)
        ) from None


def tls_options(settings: Settings) -> dict[str, str]:
    """redis-py's TLS arguments from JOBCTL_REDIS_CA_FILE, _CERT_FILE and _KEY_FILE, for a rediss:// URL.

    Verification stays redis-py's default (the certificate must chain to a trusted CA and name the
    host): these settings only say which CA to trust and which client certificate to show. redis-py
    also reads `ssl_*=` query parameters in REDIS_URL itself, and those win over these (it applies the
    URL's options last); `?ssl_cert_reqs=none` there is the one way to turn verification off."""
    files = {
        "ssl_ca_certs": settings.redis_ca_file,
        "ssl_certfile": settings.redis_cert_file,
        "ssl_keyfile": settings.redis_key_file,
    }
    chosen = {name: str(Path(value).expanduser()) for name, value in files.items() if value}
    if chosen and not settings.redis_url.startswith("rediss://"):
        # a setting that would be ignored silently would leave the admin believing the link is encrypted
        raise ConfigError(
            "JOBCTL_REDIS_CA_FILE, _CERT_FILE and _KEY_FILE need a rediss:// REDIS_URL",
            "use rediss:// for a TLS server, or unset those settings",
        )
    if bool(settings.redis_cert_file) != bool(settings.redis_key_file):
        raise ConfigError(
            "JOBCTL_REDIS_CERT_FILE and JOBCTL_REDIS_KEY_FILE go together", "set both, or neither"
        )
    return chosen


def _unreachable_hint(detail: str, settings: Settings) -> str:
    """What to do about a failed connection, told apart by what the TLS layer said (OpenSSL's words)."""
    if "CERTIFICATE_VERIFY_FAILED" in detail:
        if "match" in detail or "mismatch" in detail:
            return "the server's certificate does not name the host in REDIS_URL: connect by a name it has"
        return (
            "the server's certificate is not signed by a CA jobctl trusts: set JOBCTL_REDIS_CA_FILE to "
            "the CA file that signed it"
        )
    tls = settings.redis_url.startswith("rediss://")
    if "CERTIFICATE_REQUIRED" in detail.upper() or "certificate required" in detail:
        return "the server asks for a client certificate: set JOBCTL_REDIS_CERT_FILE and _KEY_FILE"
    if tls and "WRONG_VERSION_NUMBER" in detail.upper():
        return "the server at that port does not speak TLS: use redis:// for a plain server"
    if tls and "EOF" in detail:  # with TLS 1.3 a missing client certificate shows only as a closed link
        return (
            "the server closed the TLS connection: if it asks for a client certificate set "
            "JOBCTL_REDIS_CERT_FILE and _KEY_FILE; if it does not speak TLS there use redis://"
        )
    if not tls and ("reset by peer" in detail or "Connection closed by server" in detail):
        return "the server at that port may speak TLS only: use rediss:// and JOBCTL_REDIS_CA_FILE"
    return HINT_UNREACHABLE


def permission_refused(exc: redis.exceptions.NoPermissionError) -> JobctlError:
    """A command the server's ACL refuses the configured user (NOPERM), as one line and a hint."""
    return JobctlError(f"Redis refused a command to this user: {exc}", HINT_ACL)


def decoded(reply: bytes | str) -> str:
    """A member, field or value read from Redis, as str. jobctl's clients leave decode_responses off, so
    replies arrive as bytes; redis-py annotates them bytes | str for clients that turn it on."""
    return reply if isinstance(reply, str) else reply.decode()


def decoded_members(reply: Iterable[Any]) -> list[str]:
    """The members of a set, or of a sorted-set range read without scores, as str. (redis-py annotates a
    range reply with the score pairs WITHSCORES would add.)"""
    return [decoded(m) for m in reply]
