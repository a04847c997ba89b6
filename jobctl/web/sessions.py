"""Web sign-ins: a server-side session in Redis, referenced by an opaque random cookie.

The cookie holds 32 random bytes; Redis holds only their SHA-256 (keyspace.web_session), so a copy
of the keyspace signs nobody in. The session names the API token it was opened with, not its role:
the token is read again on every request (one HGET), so a revoked token ends its sessions at once,
even when a new token takes its name (the session remembers when its token was created). Each
session carries its own CSRF token, which every form posts back. Sessions expire after
JOBCTL_WEB_SESSION_TTL (Redis' own expiry: nothing to sweep).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import redis

from jobctl.core import keyspace, tokens
from jobctl.errors import NotFound


@dataclass(frozen=True)
class Session:
    name: str  # the API token's name: who acts, in the audit log
    role: str  # the token's role as read for this request
    csrf: str

    def allows(self, role: str) -> bool:
        return tokens.role_allows(self.role, role)

    def csrf_matches(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf.encode(), str(presented).encode())


def _key(session_id: str) -> str:
    return keyspace.web_session(hashlib.sha256(session_id.encode()).hexdigest())


def open_session(connection: redis.Redis, owner: tokens.TokenOwner, ttl: int) -> str:
    """A new session for `owner`, expiring in `ttl` seconds; returns the cookie's value."""
    session_id = secrets.token_urlsafe(32)
    key = _key(session_id)
    created = tokens.get_token(connection, owner.name)["created_at"]
    with connection.pipeline(transaction=True) as pipe:
        pipe.hset(
            key,
            mapping={
                "name": owner.name,
                "token_created": created,
                "csrf": secrets.token_urlsafe(32),
                "created": f"{time.time():.3f}",
            },
        )
        pipe.expire(key, ttl)
        pipe.execute()
    return session_id


def load_session(connection: redis.Redis, session_id: str | None) -> Session | None:
    """The live session the cookie names, with its token's current role; None when there is none (never
    opened, expired, signed out) or its token has been revoked meanwhile."""
    if not session_id or len(session_id) > 100:
        return None
    raw = connection.hgetall(_key(session_id))
    if not raw:
        return None
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    try:
        token = tokens.get_token(connection, fields["name"])
    except (NotFound, KeyError):
        return None
    if token["created_at"] != fields.get("token_created"):  # revoked, and the name given to a new token
        return None
    return Session(fields["name"], token["role"], fields["csrf"])


def close_session(connection: redis.Redis, session_id: str | None) -> bool:
    return bool(session_id) and bool(connection.delete(_key(str(session_id))))
