"""Bad input never yields a 500 or a traceback: one JSON error shape with a one-line message."""

from __future__ import annotations

import asyncio
import json
import re

import anyio
import pytest
import redis
from fastapi.testclient import TestClient
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.routing import Mount, Route

from jobctl.config import load_settings
from jobctl.core import keyspace, tokens
from jobctl.core.bulk import enqueue_many
from jobctl.errors import UsageError
from jobctl.http import create_app
from jobctl.http.errors import METHODS
from jobctl.http.limits import BodyLimits
from tests.http.conftest import bearer, dead_jobs


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "hint"}, body
    assert "\n" not in body["error"]["message"] and "Traceback" not in response.text
    return body["error"]


# --- 422: request validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, needle",
    [
        ({}, 'body: give exactly one selection: "job_ids", or "dlq": true with "all": true'),
        ({"job_ids": ["a"], "dlq": True, "all": True}, "give exactly one selection"),
        ({"all": True}, '"all" selects dead-lettered jobs: add "dlq": true'),
        ({"job_ids": ["a"], "queue": "email-sending"}, '"queue" narrows "all"'),
        ({"job_ids": "abc"}, "body.job_ids: input should be a valid list"),
        ({"job_ids": []}, "body.job_ids: list should have at least 1 item"),
        ({"job_ids": ["bad id!"]}, "body.job_ids.0: string should match pattern"),
        ({"job_ids": [f"j{i}" for i in range(1001)]}, "body.job_ids: list should have at most 1000 items"),
        ({"jobs": ["a"]}, "body.jobs: extra inputs are not permitted"),
        ({"queueName": "email-sending"}, '"queueName" and "jobId" go together: give both'),
        ({"jobId": "a"}, '"queueName" and "jobId" go together'),
        (
            {"queueName": "email-sending", "jobId": "a", "job_ids": ["b"]},
            '"job_ids" does not go with "queueName"',
        ),
        ({"queueName": "email-sending", "jobId": "a", "dlq": True}, '"dlq" does not go with "queueName"'),
        ({"queueName": "email-sending", "jobId": "bad id!"}, "body.jobId: string should match pattern"),
        ({"queueName": "", "jobId": "a"}, "body.queueName: string should have at least 1 character"),
    ],
)
def test_retry_body_validation_is_422_with_a_one_line_message(client, admin, body, needle):
    error = error_of(client.post("/api/jobs/retry", headers=admin, json=body), 422)
    assert error["code"] == "invalid_request" and needle in error["message"], error
    assert error["hint"]


def test_a_missing_field_is_named(client, admin):
    error = error_of(client.post("/api/jobs/schedule", headers=admin, json={"name": "n", "job": "noop"}), 422)
    assert error["message"] == "body.cron: field required"


def test_query_validation_is_422(client, admin):
    error = error_of(client.get("/api/jobs/queues/email-sending?state=zombie", headers=admin), 422)
    assert error["message"].startswith("query.state: input should be 'waiting'")
    error = error_of(client.get("/api/jobs/queues/email-sending?limit=100000", headers=admin), 422)
    assert error["message"] == "query.limit: input should be less than or equal to 1000"
    error_of(client.get("/api/jobs/not%20an%20id", headers=admin), 422)


@pytest.mark.parametrize("raw", [b'{"job_ids": [', b"not json", b'{"job_ids": ["a"],}'])
def test_malformed_json_is_422_saying_so(client, admin, raw):
    response = client.post(
        "/api/jobs/retry", headers={**admin, "Content-Type": "application/json"}, content=raw
    )
    error = error_of(response, 422)
    assert error["message"].startswith("body is not valid JSON: ") and " at position " in error["message"]


# --- 400: a JSON body FastAPI cannot read at all -------------------------------------------------------

NESTED = b"[" * 30_000 + b"]" * 30_000  # under the 64 KiB limit, deeper than the JSON parser goes


@pytest.mark.parametrize(
    "raw, message",
    [
        (NESTED, "body is nested too deeply to read"),
        (b'{"job_ids": [' + b"9" * 5000 + b"]}", "body has a number with too many digits to read"),
        (b'{"job_ids": ["\xff"]}', "body is not valid UTF-8"),
        ('{"job_ids": ["caf\u00e9"]}'.encode("latin-1"), "body is not valid UTF-8"),
    ],
    ids=["nested", "huge-number", "invalid-utf8", "latin-1"],
)
def test_an_unreadable_json_body_is_400_saying_why(client, admin, raw, message):
    response = client.post(
        "/api/jobs/retry", headers={**admin, "Content-Type": "application/json"}, content=raw
    )
    error = error_of(response, 400)
    assert (error["code"], error["message"]) == ("bad_request", message)
    assert "UTF-8" in error["hint"] and "/docs" in error["hint"]


def test_a_body_that_is_not_json_is_refused_not_crashed(client, admin):
    response = client.post(
        "/api/jobs/retry", headers={**admin, "Content-Type": "text/plain"}, content=b"ids=1"
    )
    assert error_of(response, 422)["code"] == "invalid_request"


# --- 400 / 404 / 409 from the core -----------------------------------------------------------------


def test_unknown_queue_is_404_naming_the_valid_ones(client, admin):
    for method, path in [
        ("GET", "/api/jobs/queues/emails"),
        ("POST", "/api/jobs/queues/emails/pause"),
        ("DELETE", "/api/jobs/queues/emails"),
        ("GET", "/api/jobs/stats?queue=emails"),
    ]:
        error = error_of(client.request(method, path, headers=admin), 404)
        assert error["code"] == "not_found" and "unknown queue 'emails'" in error["message"]
        assert "email-sending" in error["hint"] and "payment-retry" in error["hint"]


def test_unknown_job_and_unknown_endpoint_are_404(client, admin):
    assert (
        error_of(client.get("/api/jobs/no-such-job", headers=admin), 404)["message"] == "no job 'no-such-job'"
    )
    assert error_of(client.delete("/api/jobs/no-such-job", headers=admin), 404)["code"] == "not_found"
    assert error_of(client.get("/api/nothing-here", headers=admin), 404)["code"] == "not_found"


def test_core_usage_errors_are_400(client, admin, redis_client, settings):
    assert "window" in error_of(client.get("/api/jobs/stats?window=forever", headers=admin), 400)["message"]
    assert "30 days" in error_of(client.get("/api/jobs/stats?window=60d", headers=admin), 400)["message"]
    assert error_of(client.get("/api/jobs/dlq?since=soon", headers=admin), 400)["code"] == "usage"
    assert error_of(client.get("/api/jobs/dlq?cursor=-3", headers=admin), 400)["code"] == "usage"
    bad_tz = {"name": "n", "cron": "0 3 * * *", "tz": "Mars/Olympus", "job": "noop"}
    assert error_of(client.post("/api/jobs/schedule", headers=admin, json=bad_tz), 400)["code"] == "usage"
    bad_cron = {"name": "n", "cron": "every day", "job": "noop"}
    assert error_of(client.post("/api/jobs/schedule", headers=admin, json=bad_cron), 400)["code"] == "usage"
    assert not redis_client.hexists(keyspace.schedules(), "n")
    [job_id] = enqueue_many(redis_client, settings, "noop", [{}], queue="email-sending")
    assert client.post(f"/api/jobs/{job_id}/cancel", headers=admin).status_code == 200
    error = error_of(client.post(f"/api/jobs/{job_id}/cancel", headers=admin), 400)
    assert "already canceled" in error["message"]
    assert error_of(client.delete("/api/jobs/dlq", headers=admin), 400)["message"].startswith(
        "give exactly one"
    )


def test_deleting_a_dead_lettered_job_is_409_and_keeps_it(client, admin, redis_client, settings):
    [job_id] = dead_jobs(redis_client, settings, 1)
    error = error_of(client.delete(f"/api/jobs/{job_id}", headers=admin), 409)
    assert (
        error["code"] == "conflict" and "dead-letter" in error["message"] and "/api/jobs/dlq" in error["hint"]
    )
    assert redis_client.exists(keyspace.dlq_entry(job_id))


def test_clearing_the_dead_letter_queue_is_refused_with_400(client, admin):
    error = error_of(client.delete("/api/jobs/queues/dead-letter", headers=admin), 400)
    assert "dlq purge" in error["hint"]


# --- 413: body size, counted as it streams -----------------------------------------------------------


@pytest.fixture
def small_client(monkeypatch, redis_client):
    monkeypatch.setenv("JOBCTL_HTTP_MAX_BODY", "1k")
    with TestClient(create_app(load_settings(), redis_client)) as test_client:
        yield test_client


def _ids_body(n: int) -> bytes:
    return json.dumps({"job_ids": [f"job-{i:06d}" for i in range(n)]}).encode()


def test_a_declared_body_over_the_limit_is_413_before_anything_runs(small_client, creds, redis_client):
    body = _ids_body(100)
    assert len(body) > 1024
    audited = redis_client.xlen(f"{keyspace.JOBCTL}:audit")
    response = small_client.post(
        "/api/jobs/retry",
        headers={**bearer(creds["admin"]), "Content-Type": "application/json"},
        content=body,
    )
    error = error_of(response, 413)
    assert error["code"] == "too_large" and "1,024 bytes" in error["message"]
    assert "JOBCTL_HTTP_MAX_BODY" in error["hint"]
    assert redis_client.xlen(f"{keyspace.JOBCTL}:audit") == audited  # the endpoint never ran


def _stream(chunks: list[bytes]):
    """An ASGI receive() delivering a body in several messages, as a server does for a chunked body;
    returns it and the list of chunks it has handed out."""
    handed: list[bytes] = []

    async def receive():
        if len(handed) < len(chunks):
            handed.append(chunks[len(handed)])
            return {"type": "http.request", "body": handed[-1], "more_body": len(handed) < len(chunks)}
        return {"type": "http.disconnect"}

    return receive, handed


def _drive(middleware: BodyLimits, headers: list[tuple[bytes, bytes]], receive) -> tuple[int, bytes]:
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/jobs/retry", "headers": headers}
    asyncio.run(middleware(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_a_chunked_body_is_counted_as_it_streams_and_cut_off_at_the_limit():
    reached = []

    async def endpoint(scope, receive, send):  # stands in for the app: must never run
        reached.append(scope)

    receive, handed = _stream([b"x" * 400] * 10)  # 4000 bytes, no Content-Length
    status, body = _drive(
        BodyLimits(endpoint, max_bytes=1024, read_timeout=10),
        [(b"content-type", b"application/json")],
        receive,
    )
    assert status == 413 and json.loads(body)["error"]["code"] == "too_large"
    assert len(handed) == 3 and not reached  # stopped reading at the chunk that crossed 1024 bytes


def test_a_chunked_body_within_the_limit_reaches_the_app_whole():
    seen = []

    async def echo(scope, receive, send):
        message = await receive()
        seen.append((message["body"], message["more_body"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    receive, _handed = _stream([b"a" * 300, b"b" * 300, b"c" * 300])
    assert _drive(BodyLimits(echo, max_bytes=1024, read_timeout=10), [], receive) == (200, b"ok")
    assert seen == [(b"a" * 300 + b"b" * 300 + b"c" * 300, False)]


def test_a_chunked_request_through_the_test_client_is_limited_too(small_client, creds):
    body = _ids_body(100)
    response = small_client.post(
        "/api/jobs/retry",
        headers={**bearer(creds["admin"]), "Content-Type": "application/json"},
        content=iter([body[:500], body[500:]]),
    )
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert error_of(response, 413)["code"] == "too_large"


def test_a_chunked_body_within_the_limit_reaches_the_endpoint(small_client, creds, redis_client, settings):
    [job_id] = enqueue_many(redis_client, settings, "noop", [{}], queue="email-sending")
    body = json.dumps({"job_ids": [job_id]}).encode()
    response = small_client.post(
        "/api/jobs/retry",
        headers={**bearer(creds["operator"]), "Content-Type": "application/json"},
        content=iter([body[:10], body[10:]]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["refused"] == [{"id": job_id, "reason": "not failed (status queued)"}]


def test_the_default_limit_is_64_kib(client, admin):
    body = b'{"job_ids": ["' + b"a" * (64 * 1024) + b'"]}'
    assert (
        error_of(
            client.post(
                "/api/jobs/retry", headers={**admin, "Content-Type": "application/json"}, content=body
            ),
            413,
        )["message"]
        == "request body is over 65,536 bytes"
    )


# --- 503 and the loopback rule ----------------------------------------------------------------------


def test_unreachable_redis_is_503_not_500(settings, closed_port):
    # no retries: the default backoff would only make the test slow
    down = redis.Redis(
        host="127.0.0.1", port=closed_port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    with TestClient(create_app(settings, down)) as test_client:
        health = test_client.get("/healthz")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        error = error_of(test_client.get("/api/jobs/stats", headers=bearer("jct_whatever")), 503)
        assert error["code"] == "redis_unreachable"


def test_loopback_without_tokens_reads_anonymously_but_changes_nothing(settings, redis_client):
    with TestClient(create_app(settings, redis_client, loopback=True)) as test_client:
        assert test_client.get("/api/jobs/stats").status_code == 200
        error = error_of(test_client.post("/api/jobs/queues/email-sending/pause"), 403)
        assert "without a token" in error["message"]
        assert not redis_client.smembers(keyspace.paused_queues())
        # the first token ends anonymous access, on this running server too
        tokens.create_token(redis_client, settings, "first", "admin")
        assert error_of(test_client.get("/api/jobs/stats"), 401)["message"] == "missing bearer token"


def test_non_loopback_without_tokens_admits_nobody(settings, redis_client):
    with TestClient(create_app(settings, redis_client, loopback=False)) as test_client:
        assert error_of(test_client.get("/api/jobs/stats"), 401)["code"] == "unauthorized"


def test_openapi_declares_bearer_security_and_docs_are_served(client):
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from `jobctl token create NAME --role ROLE`.",
    }
    assert spec["paths"]["/api/jobs/retry"]["post"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]
    assert client.get("/docs").status_code == 200


# --- 405: Allow names every method the path accepts ----------------------------------------------------

SAMPLE_PARAMS = {"queueName": "email-sending", "job_id": "job-1", "name": "nightly"}


def _route_table(app) -> dict[str, set[str]]:
    """path template -> methods, from the OpenAPI description plus the routes kept out of it (docs,
    their assets); independent of how the router matches."""
    table = {
        path: {method.upper() for method in operations} for path, operations in app.openapi()["paths"].items()
    }
    for route in app.routes:
        if isinstance(route, Mount):  # the docs' static files
            table[route.path + "/{asset}"] = {"GET", "HEAD"}
        elif isinstance(route, Route) and route.path not in table:
            table[route.path] = set(route.methods or ())
    return table


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


def test_every_405_has_allow_with_exactly_the_methods_of_its_path(settings, redis_client):
    app = create_app(settings, redis_client)
    table = _route_table(app)
    assert len(table) > 15 and "/api/jobs/{job_id}" in table and "/redoc" in table
    with TestClient(app) as test_client:
        for template in table:
            path = re.sub(r"\{([^}]+)\}", lambda m: SAMPLE_PARAMS.get(m[1], "swagger-ui.css"), template)
            # every template matching this path answers it: /api/jobs/stats is also a {job_id}
            accepted = set().union(*(m for t, m in table.items() if _template_regex(t).match(path)))
            for method in sorted(set(METHODS) - accepted):
                response = test_client.request(method, path)
                assert response.status_code == 405, (method, path, response.text)
                assert set(response.headers["allow"].split(", ")) == accepted, (method, path)
                if method != "HEAD":
                    error = error_of(response, 405)
                    assert error["code"] == "method_not_allowed" and method in error["message"]
                    assert error["hint"]


# --- every 4xx the API answers has a hint ---------------------------------------------------------------


def _slow_body_status() -> tuple[int, dict]:
    """408: a body that never finishes arriving, through the limits middleware (a test client always
    sends the whole body, so this one drives the middleware directly)."""

    async def endpoint(scope, receive, send):  # must never run
        raise AssertionError("reached the endpoint")

    async def receive():
        await anyio.sleep_forever()

    status, body = _drive(BodyLimits(endpoint, max_bytes=1024, read_timeout=0.2), [], receive)
    return status, json.loads(body)


def test_every_4xx_status_the_api_can_answer_has_a_hint(client, creds, redis_client, settings):
    admin, viewer = bearer(creds["admin"]), bearer(creds["viewer"])
    as_json = {**admin, "Content-Type": "application/json"}
    [dead] = dead_jobs(redis_client, settings, 1)
    requests = {
        400: [
            ("GET", "/api/jobs/stats?window=forever", admin, None),
            ("POST", "/api/jobs/retry", as_json, NESTED),
            ("POST", "/api/jobs/retry", as_json, b'"\xff"'),
            ("POST", "/api/jobs/retry", {**as_json, "Content-Length": "ten"}, b"{}"),
        ],
        401: [("GET", "/api/jobs/stats", {}, None), ("GET", "/api/jobs/stats?access_token=x", {}, None)],
        403: [("POST", "/api/jobs/queues/email-sending/pause", viewer, None)],
        404: [
            ("GET", "/api/jobs/no-such-job", admin, None),
            ("GET", "/api/jobs/queues/emails", admin, None),
            ("GET", "/nothing-here", admin, None),
            ("DELETE", "/api/jobs/schedules/nope", admin, None),
        ],
        405: [("PUT", "/api/jobs/stats", admin, None)],
        409: [("DELETE", f"/api/jobs/{dead}", admin, None)],
        413: [("POST", "/api/jobs/retry", as_json, b"x" * (64 * 1024 + 1))],
        422: [("POST", "/api/jobs/retry", as_json, b"{}"), ("POST", "/api/jobs/retry", as_json, b"{")],
    }
    answered = {}
    for status, cases in requests.items():
        for method, path, headers, body in cases:
            response = client.request(method, path, headers=headers, content=body)
            answered[(method, path, status)] = error_of(response, status)
    slow_status, slow_body = _slow_body_status()
    answered[("POST", "(slow body)", slow_status)] = slow_body["error"]

    declared = {
        int(code)
        for operations in client.get("/openapi.json").json()["paths"].values()
        for operation in operations.values()
        for code in operation["responses"]
        if code.startswith("4")
    }
    covered = {status for _method, _path, status in answered}
    assert declared | {405, 408} <= covered, f"no case for {declared | {405, 408} - covered}"
    no_hint = [
        case for case, error in answered.items() if not (isinstance(error["hint"], str) and error["hint"])
    ]
    assert not no_hint


def test_an_error_raised_without_a_hint_still_gets_one(settings, redis_client):
    app = create_app(settings, redis_client)

    @app.get("/hintless")
    def hintless() -> None:
        raise UsageError("refused")

    with TestClient(app) as test_client:
        assert (
            error_of(test_client.get("/hintless"), 400)["hint"] == "see /docs for what this endpoint accepts"
        )
