"""`config show` masks the secrets inside every URL-shaped setting by one rule, not per setting."""

from __future__ import annotations

import json

import pytest

from jobctl.config import FIELDS, SECRET_MASK

PASSWORD, TOKEN = "pw-Hunter2-x", "tok-Q7x9-zz"
URL_FIELDS = [f for f in FIELDS if f.name.endswith("_url")]


def _url_with_secrets(field) -> str:
    """A URL the field's own check accepts, carrying a password and a token query value."""
    for scheme in ("https", "redis", "postgresql"):
        url = f"{scheme}://user:{PASSWORD}@host.example:1234/0?token={TOKEN}&db=0"
        try:
            if field.check:
                field.check(url)
        except ValueError:
            continue
        return url
    raise AssertionError(f"no URL passes {field.name}'s check")


def test_the_url_settings_are_found():
    assert {"redis_url", "database_url", "sendgrid_url", "crypto_url", "stripe_url"} <= {
        f.name for f in URL_FIELDS
    }


@pytest.mark.parametrize("field", URL_FIELDS, ids=lambda f: f.env)
def test_config_show_masks_the_password_and_token_of(field, cli, monkeypatch):
    monkeypatch.setenv(field.env, _url_with_secrets(field))
    monkeypatch.setenv("COLUMNS", "400")  # one table row per line: a wrapped value could hide a leak
    data = cli.json("config", "show")
    [row] = [r for r in data["settings"] if r["key"] == field.name]
    assert row["source"] == f"env {field.env}" and SECRET_MASK in row["value"]
    if not field.secret:  # a secret setting is masked whole; the others keep what is not a secret
        assert f"user:{SECRET_MASK}@host.example:1234/0?token={SECRET_MASK}&db=0" in row["value"]
    text = cli("config", "show").stdout
    for shown in (json.dumps(data), text):
        assert PASSWORD not in shown and TOKEN not in shown
