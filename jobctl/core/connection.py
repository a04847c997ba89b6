"""One Redis connection for every face: REDIS_URL when set, else jobctl's embedded server."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import redis
import redis.sentinel

from jobctl.config import SENTINEL_SCHEME, Settings, mask_url, memory_limit_bytes, parse_sentinel_url
from jobctl.core import embedded
from jobctl.errors import ConfigError, JobctlError, RedisUnavailable

HINT_UNREACHABLE = "start that server, fix REDIS_URL, or unset REDIS_URL to use jobctl's embedded server"
HINT_ACL = 'grant that Redis user the ACL in the README\'s "TLS and ACL users" section'
HINT_SENTINEL = "check that the Sentinels in REDIS_URL run and monitor that master name (SENTINEL MASTERS)"


def redis_url(settings: Settings) -> str:
    """The URL of the server jobctl uses, as other RQ tools take it (`rq info -u URL`), secrets masked."""
    if settings.redis_url:
        return mask_url(settings.redis_url)
    return f"unix://{embedded.paths(settings.home_path).socket}"


def describe_target(settings: Settings) -> str:
    if is_sentinel(settings):
        return f"{redis_url(settings)} (Sentinel)"
    return redis_url(settings) + ("" if settings.redis_url else " (embedded)")


def is_sentinel(settings: Settings) -> bool:
    return settings.redis_url.startswith(f"{SENTINEL_SCHEME}://")


class SentinelMasterConnection(redis.sentinel.SentinelManagedConnection):
    """A connection to the master Sentinel names. NOREPLICAS (the master's min-replicas-to-write is
    unmet: just after a failover, say, while its new replica syncs) comes out as a ConnectionError, so
    workers, the scheduler and every retry loop wait it out like an outage instead of failing on it.
    Redis checks it before a command or script writes anything, so nothing was half done."""

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except redis.ResponseError as exc:
            if not str(exc).startswith("NOREPLICAS"):
                raise
            raise redis.ConnectionError(f"the master has too few replicas in sync to write ({exc})") from exc


def sentinel_client(settings: Settings, **connection_kwargs: Any) -> redis.Redis:
    """A client for the master a redis+sentinel:// URL names. Its pool asks the Sentinels for the
    master's address on every new connection, and drops a connection whose server turned replica
    (READONLY), so after a failover the next call (a worker's retry) reaches the new master."""
    target = parse_sentinel_url(settings.redis_url)
    sentinel_kwargs = {
        "socket_connect_timeout": connection_kwargs.get("socket_connect_timeout", 5),
        "socket_timeout": connection_kwargs.get("socket_timeout", 5),
    }
    if target.sentinel_password:
        sentinel_kwargs |= {"username": target.sentinel_username, "password": target.sentinel_password}
    sentinels = redis.sentinel.Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_kwargs)
    return sentinels.master_for(
        target.master,
        db=target.db,
        username=target.username,
        password=target.password or settings.redis_password or None,
        connection_class=SentinelMasterConnection,
        **connection_kwargs,
    )


def no_master(settings: Settings, exc: Exception) -> str:
    """MasterNotFoundError in one line: redis-py's message carries the whole client's repr; the last
    Sentinel's own error (connection refused, NOAUTH, ...) is what helps."""
    cause = str(exc).rsplit(" - ", 1)[-1] if " - " in str(exc) else ""
    name = parse_sentinel_url(settings.redis_url).master
    return f"no Sentinel named a master {name!r}" + (
        f" (last: {cause.removeprefix('network:')})" if cause else ""
    )


def sentinel_master(settings: Settings, timeout: float = 1.0) -> dict[str, Any]:
    """What the Sentinels say now: {"master": name, "sentinels": [...], "address": "host:port" or None,
    "error": why not}; one round trip to each Sentinel at most (for `server status`)."""
    target = parse_sentinel_url(settings.redis_url)
    info: dict[str, Any] = {
        "master": target.master,
        "sentinels": [f"{host}:{port}" for host, port in target.sentinels],
        "address": None,
    }
    client = sentinel_client(settings, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        pool = cast(redis.sentinel.SentinelConnectionPool, client.connection_pool)  # master_for's
        host, port = pool.get_master_address()
        info["address"] = f"{host}:{port}"
    except redis.sentinel.MasterNotFoundError as exc:
        info["error"] = no_master(settings, exc)
    except (redis.RedisError, OSError) as exc:
        info["error"] = str(exc)
    finally:
        client.close()
    return info


def connect(settings: Settings, *, check: bool = True) -> redis.Redis:
    """A client for the configured server, started if it is the embedded one.

    Raises RedisUnavailable (exit 3) with the URL, password masked, when it cannot be reached.
    """
    if is_sentinel(settings):
        client = sentinel_client(settings, socket_connect_timeout=5, health_check_interval=30)
    elif settings.redis_url:
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
        if is_sentinel(settings):
            client = sentinel_client(settings, socket_connect_timeout=timeout, socket_timeout=timeout)
        elif settings.redis_url:
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
    except redis.sentinel.MasterNotFoundError as exc:  # a ConnectionError: caught before those
        raise RedisUnavailable(
            f"cannot reach Redis at {describe_target(settings)}: {no_master(settings, exc)}", HINT_SENTINEL
        ) from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        hint = HINT_SENTINEL if is_sentinel(settings) else _unreachable_hint(str(exc), settings)
        raise RedisUnavailable(f"cannot reach Redis at {describe_target(settings)}: {exc}", hint) from None


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
