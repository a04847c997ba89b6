"""The HTTP API: bad bodies, bad query and path values, unknown endpoints and methods. Each answer
is the one error shape with a one-line message and a hint, the status the error's kind maps to,
and nothing written. (Every job type's bad data is in test_payloads.py.)"""

from __future__ import annotations

import json

import pytest

from tests.bad_input.checks import nothing_written, one_http_error
from tests.http.conftest import bearer

DEEP = "[" * 5000 + "]" * 5000
JOB = "/api/jobs"

# (method, path, json body or raw bytes, status)
CASES = [
    ("POST", JOB, b"not json", 422),
    ("POST", JOB, b'{"job": "noop",', 422),
    ("POST", JOB, b'{"job": "\xff\xfe"}', 400),
    ("POST", JOB, ('{"job": "noop", "data": {"x": ' + DEEP + "}}").encode(), 400),
    ("POST", JOB, [1], 422),
    ("POST", JOB, "noop", 422),
    ("POST", JOB, {}, 422),
    ("POST", JOB, {"job": "no-such-type"}, 422),
    ("POST", JOB, {"job": "noop", "colour": "red"}, 422),
    ("POST", JOB, {"job": "noop", "data": "x"}, 422),
    ("POST", JOB, {"job": "noop", "data": [1]}, 422),
    ("POST", JOB, {"job": "noop", "priority": "urgent"}, 422),
    ("POST", JOB, {"job": "noop", "queue": ""}, 422),
    ("POST", JOB, {"job": "noop", "queue": "no-such-queue"}, 404),
    ("POST", JOB, {"job": "noop", "at": "soon"}, 400),
    ("POST", JOB, {"job": "noop", "at": "2026-12-01T09:00:00"}, 400),
    ("POST", JOB, {"job": "noop", "in": "-5m"}, 400),
    ("POST", JOB, {"job": "noop", "in": "99999999999d"}, 400),
    ("POST", JOB, {"job": "noop", "in": "1m", "at": "2030-01-01T00:00:00Z"}, 400),
    ("POST", JOB, {"job": "noop", "in": "x" * 100}, 422),
    ("POST", f"{JOB}/schedule", {"name": "x", "cron": "61 * * * *", "job": "noop"}, 400),
    ("POST", f"{JOB}/schedule", {"name": "x", "cron": "@daily", "tz": "Mars/Olympus", "job": "noop"}, 400),
    ("POST", f"{JOB}/schedule", {"name": "bad name!", "cron": "@daily", "job": "noop"}, 422),
    ("POST", f"{JOB}/schedule", {"name": "x", "job": "noop"}, 422),
    ("POST", f"{JOB}/schedule", {"name": "x", "cron": "@daily", "job": "noop", "missed": "all"}, 422),
    (
        "POST",
        f"{JOB}/schedule",
        {"name": "x", "cron": "@daily", "job": "file", "data": {"file_url": "http://127.0.0.1/a.png"}},
        422,
    ),
    ("POST", f"{JOB}/retry", {}, 422),
    ("POST", f"{JOB}/retry", {"job_ids": ["bad id!"]}, 422),
    ("POST", f"{JOB}/retry", {"dlq": True, "all": True, "since": "forever"}, 400),
    ("POST", f"{JOB}/queues/no-such-queue/pause", None, 404),
    ("DELETE", f"{JOB}/queues/no-such-queue", None, 404),
    ("DELETE", f"{JOB}/queues/email-sending?state=bogus", None, 422),
    ("DELETE", f"{JOB}/dlq", None, 400),
    ("DELETE", f"{JOB}/dlq?all=true&since=forever", None, 400),
    ("DELETE", f"{JOB}/dlq?job_ids=a&queue=email-sending", None, 400),
    ("DELETE", f"{JOB}/schedules/no-such-schedule", None, 404),
    ("GET", f"{JOB}/queues/no-such-queue", None, 404),
    ("GET", f"{JOB}/queues/email-sending?limit=0", None, 422),
    ("GET", f"{JOB}/queues/email-sending?limit=abc", None, 422),
    ("GET", f"{JOB}/queues/email-sending?offset=-1", None, 422),
    ("GET", f"{JOB}/queues/email-sending?offset=10000000000", None, 422),
    ("GET", f"{JOB}/queues/email-sending?state=bogus", None, 422),
    ("GET", f"{JOB}/stats?window=bogus", None, 400),
    ("GET", f"{JOB}/stats?window=99999d", None, 400),
    ("GET", f"{JOB}/dlq?limit=0", None, 422),
    ("GET", f"{JOB}/dlq?since=bogus", None, 400),
    ("GET", f"{JOB}/dlq?cursor=" + "9" * 30, None, 422),
    ("GET", f"{JOB}/bad%20id", None, 422),
    ("GET", f"{JOB}/no-such-job", None, 404),
    ("POST", f"{JOB}/no-such-job/cancel", None, 404),
    ("GET", "/api/nothing-here", None, 404),
    ("PUT", JOB, {"job": "noop"}, 405),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"), CASES, ids=[f"{m} {p[:60]} {str(b)[:40]}" for m, p, b, _ in CASES]
)
def test_a_bad_request_is_one_error_with_a_hint(
    client, creds, redis_client, jobctl_env, method, path, body, status
):
    headers = bearer(creds["admin"])
    if isinstance(body, bytes):
        kwargs = {"content": body, "headers": {**headers, "Content-Type": "application/json"}}
    elif body is None:
        kwargs = {"headers": headers}
    else:
        kwargs = {"content": json.dumps(body), "headers": {**headers, "Content-Type": "application/json"}}
    with nothing_written(redis_client, jobctl_env):
        response = client.request(method, path, **kwargs)
    one_http_error(response, status)


def test_a_body_over_the_limit_is_413_with_a_hint(client, creds, redis_client, jobctl_env):
    body = {"job": "noop", "data": {"x": "y" * 70_000}}
    with nothing_written(redis_client, jobctl_env):
        response = client.post(JOB, headers=bearer(creds["admin"]), json=body)
    one_http_error(response, 413)
