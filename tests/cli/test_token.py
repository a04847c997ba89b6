"""jobctl token create|list|revoke: the secret is shown once and stored only as its SHA-256."""

from __future__ import annotations

import hashlib
import json
import re

from jobctl.core import audit, keyspace, tokens
from tests.conftest import KEY_PREFIX

TOKEN = re.compile(r"^jct_[A-Za-z0-9_-]{43}$")


def _everything_stored(conn) -> str:
    """Every value under this run's prefix, as text: hashes, strings and the audit stream."""
    out = []
    for key in conn.scan_iter(match=f"{KEY_PREFIX}:*"):
        kind = conn.type(key).decode()
        if kind == "hash":
            out.append(repr(conn.hgetall(key)))
        elif kind == "string":
            out.append(repr(conn.get(key)))
        elif kind == "stream":
            out.append(repr(conn.xrange(key)))
    return "\n".join(out)


def test_create_prints_the_secret_once_and_stores_only_its_hash(cli, redis_client):
    result = cli("token", "create", "ci-deploy", "--role", "operator")
    secret = result.stdout.strip()
    assert TOKEN.match(secret) and result.stdout == secret + "\n"  # alone on stdout: $(...) captures it
    assert "shown only this once" in result.stderr
    stored = json.loads(redis_client.hget(keyspace.api_tokens(), "ci-deploy"))
    assert stored["sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert stored["role"] == "operator" and stored["created_by"] == audit.os_user()
    assert secret not in _everything_stored(redis_client)
    assert tokens.authenticate(redis_client, secret) == tokens.TokenOwner("ci-deploy", "operator")


def test_create_json_and_list_never_show_a_secret_or_hash(cli, redis_client):
    created = cli.json("token", "create", "grafana", "--role", "viewer")
    assert TOKEN.match(created["token"]) and created["name"] == "grafana" and created["role"] == "viewer"
    digest = hashlib.sha256(created["token"].encode()).hexdigest()
    listed = cli.json("token", "list")["tokens"]
    assert listed == [
        {
            "name": "grafana",
            "role": "viewer",
            "created_at": created["created_at"],
            "created_by": audit.os_user(),
        }
    ]
    text = cli("token", "list").stdout
    assert "grafana" in text and "viewer" in text
    for shown in (json.dumps(listed), text):
        assert created["token"] not in shown and digest not in shown


def test_two_tokens_get_different_secrets(cli):
    a = cli.json("token", "create", "a", "--role", "admin")["token"]
    b = cli.json("token", "create", "b", "--role", "admin")["token"]
    assert a != b


def test_create_refuses_a_taken_name_a_bad_name_and_an_unknown_role(cli, redis_client):
    first = cli("token", "create", "ci", "--role", "viewer").stdout.strip()
    result = cli("token", "create", "ci", "--role", "admin", code=2)
    assert "token 'ci' exists" in result.stderr and "jobctl token revoke ci" in result.stderr
    assert tokens.authenticate(redis_client, first).role == "viewer"  # untouched
    assert "unknown role 'root'" in cli("token", "create", "x", "--role", "root", code=2).stderr
    assert "invalid token name" in cli("token", "create", "has space", "--role", "viewer", code=2).stderr
    assert cli("token", "create", "x", code=2).stderr  # --role is required
    assert [t["name"] for t in tokens.list_tokens(redis_client)] == ["ci"]


def test_revoke_confirms_then_the_token_stops_working(cli, redis_client):
    secret = cli("token", "create", "old", "--role", "admin").stdout.strip()
    result = cli("token", "revoke", "old", code=2)  # no terminal, no --yes
    assert "needs confirmation" in result.stderr and tokens.authenticate(redis_client, secret)
    [listed] = cli.json("token", "list")["tokens"]
    assert cli.json("token", "revoke", "old", "--yes") == {"revoked": "old", "token": listed}
    assert tokens.authenticate(redis_client, secret) is None
    assert cli.json("token", "list") == {"tokens": []}
    assert "no token 'old'" in cli("token", "revoke", "old", "--yes", code=4).stderr


def test_create_and_revoke_are_audited_with_the_role_never_the_secret(cli, redis_client):
    secret = cli("token", "create", "ops", "--role", "admin").stdout.strip()
    cli("token", "revoke", "ops", "--yes")
    revoke, create = audit.list_entries(redis_client, limit=2)
    assert (create["action"], create["target"], create["filters"], create["face"]) == (
        "token.create",
        "ops",
        {"role": "admin"},
        "cli",
    )
    assert (revoke["action"], revoke["target"], revoke["filters"], revoke["outcome"]) == (
        "token.revoke",
        "ops",
        {"role": "admin"},
        "ok",
    )
    assert secret not in json.dumps(audit.list_entries(redis_client))


def test_authentication_compares_every_stored_hash(redis_client, settings, monkeypatch):
    """No early exit: a match on the first token still compares against all the others."""
    made = [tokens.create_token(redis_client, settings, f"t{i}", "viewer")["token"] for i in range(5)]
    compared = []
    real = tokens.hmac.compare_digest
    monkeypatch.setattr(tokens.hmac, "compare_digest", lambda a, b: compared.append(b) or real(a, b))
    for secret in (made[0], made[4], "jct_nope"):
        compared.clear()
        tokens.authenticate(redis_client, secret)
        assert len(compared) == 5
