"""Bearer tokens for the HTTP API, each with a role: viewer < operator < admin.

Tokens live in one Redis hash (keyspace.api_tokens) so every `jobctl serve` process, on any machine,
accepts the same set and a revoke takes effect everywhere at once. Only the SHA-256 of a secret is
stored: the secret itself is returned once, by `create_token`, and never again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from jobctl.config import Settings
from jobctl.core import audit, keyspace
from jobctl.core.connection import decoded_members
from jobctl.errors import NotFound, UsageError

ROLES = ("viewer", "operator", "admin")
SECRET_PREFIX = "jct_"
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class TokenOwner:
    """Who a presented token belongs to."""

    name: str
    role: str


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(
            f"unknown role {role!r}",
            f"roles are: {', '.join(ROLES)} (each can do what the ones before it can)",
        )
    return role


def role_allows(role: str, required: str) -> bool:
    return ROLES.index(role) >= ROLES.index(required)


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise UsageError(
            f"invalid token name {name!r}", "use 1-64 letters, digits, '.', '_' and '-', e.g. ci-deploy"
        )
    return name


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored token without its hash: what listings show."""
    return {k: doc.get(k) for k in ("name", "role", "created_at", "created_by")}


def create_token(connection: redis.Redis, settings: Settings | None, name: str, role: str) -> dict[str, Any]:
    """Store a new token; returns its public fields plus `token`, the secret, which is not kept."""
    with audit.audited(connection, settings, "token.create", name, {"role": role}) as entry:
        check_name(name)
        check_role(role)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        doc = {
            "name": name,
            "role": role,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "created_by": audit.current_actor().name,
            "sha256": digest(secret),
        }
        if not connection.hsetnx(keyspace.api_tokens(), name, json.dumps(doc)):
            raise UsageError(
                f"token {name!r} exists", f"revoke it first (jobctl token revoke {name}) or pick another name"
            )
        entry.count = 1
    return {**_public(doc), "token": secret}


def list_tokens(connection: redis.Redis) -> list[dict[str, Any]]:
    """Every token by name: name, role, created_at, created_by; never a secret or a hash."""
    return sorted(
        (_public(json.loads(raw)) for raw in connection.hvals(keyspace.api_tokens())), key=lambda d: d["name"]
    )


def token_names(connection: redis.Redis) -> list[str]:
    """The tokens' names, sorted (one HKEYS; nothing else of a token is read)."""
    return sorted(decoded_members(connection.hkeys(keyspace.api_tokens())))


def get_token(connection: redis.Redis, name: str) -> dict[str, Any]:
    raw = connection.hget(keyspace.api_tokens(), name)
    if raw is None:
        raise NotFound(f"no token {name!r}", "see jobctl token list")
    return _public(json.loads(raw))


def revoke_token(connection: redis.Redis, settings: Settings | None, name: str) -> dict[str, Any]:
    """Delete a token; requests bearing it are refused from now on. Returns its public fields."""
    raw = connection.hget(keyspace.api_tokens(), name)
    role = json.loads(raw)["role"] if raw else None
    with audit.audited(connection, settings, "token.revoke", name, {"role": role}) as entry:
        if raw is None or not connection.hdel(keyspace.api_tokens(), name):
            raise NotFound(f"no token {name!r}", "see jobctl token list")
        entry.count = 1
    return _public(json.loads(raw))


def has_tokens(connection: redis.Redis) -> bool:
    return bool(connection.hlen(keyspace.api_tokens()))


def authenticate(connection: redis.Redis, presented: str) -> TokenOwner | None:
    """The owner of `presented`, or None. Every stored hash is compared in constant time and the loop
    never stops early, so the time taken does not tell how close a guess came or which token matched."""
    wanted = digest(presented)
    found: TokenOwner | None = None
    for raw in connection.hvals(keyspace.api_tokens()):
        doc = json.loads(raw)
        if hmac.compare_digest(wanted, doc.get("sha256", "")) and found is None:
            found = TokenOwner(doc["name"], doc["role"])
    return found
