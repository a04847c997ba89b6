"""The file fetch policy over HTTP and schedules: the API and schedule add refuse what enqueue refuses."""

from __future__ import annotations

import json

from jobctl.core import keyspace
from jobctl.core.fetch_policy import HINT, could_not_fetch
from tests.http.conftest import bearer
from tests.jobs.files.test_fetch_policy import FILE, keys, refused_line


def test_schedules_and_the_api_refuse_the_same_sources(cli, client, creds, redis_client):
    operator = bearer(creds["operator"])
    before = keys(redis_client)
    for url in ("http://169.254.169.254/latest/meta-data/", "/etc/shadow"):
        data = {**FILE, "file_url": url}
        answer = client.post("/api/jobs", headers=operator, json={"job": "file", "data": data})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["message"] == could_not_fetch(url)
        assert answer.json()["error"]["hint"] == HINT
        schedule = {"name": "nightly-scan", "cron": "@daily", "job": "file", "data": data}
        answer = client.post("/api/jobs/schedule", headers=operator, json=schedule)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["message"] == could_not_fetch(url)
        added = cli(
            "schedule", "add", "nightly-scan", "--cron", "@daily", "--job", "file",
            "--data-json", json.dumps(data), code=2,
        )  # fmt: skip
        assert added.stderr == refused_line(url)
    assert keys(redis_client) == before
    assert not redis_client.hexists(keyspace.schedules(), "nightly-scan")
