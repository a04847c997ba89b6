"""Schemathesis against the app's own /openapi.json, in process, as admin: no input gets a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from jobctl.core import tokens
from jobctl.core.bulk import enqueue_many
from jobctl.http import create_app


@pytest.fixture
def api_schema(settings, redis_client):
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue="email-sending")  # something to find
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings, redis_client))
    return schema


@pytest.fixture
def admin_headers(redis_client, settings):
    return {
        "Authorization": f"Bearer {tokens.create_token(redis_client, settings, 'fuzzer', 'admin')['token']}"
    }


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(
    max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
def test_no_input_gets_a_server_error(case, admin_headers):
    response = case.call(headers=admin_headers)
    case.validate_response(response, checks=[not_a_server_error])
