"""Every endpoint x {no token, bad token, revoked token, viewer, operator, admin}.

401/403 must change nothing (and record nothing in the audit log); an allowed call must have its
real effect, recorded as the token's, face "http".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from rq.job import Job

from jobctl.core import alert_rules, audit, dlq, keyspace, ops, schedules, tokens
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.stats import queue_key
from tests.http.conftest import UNAUTHENTICATED, WHO, bearer, dead_jobs, failed_jobs

Q = "email-sending"
P = "payment-retry"


def _status(conn, job_id: str) -> str | None:
    job = Job.fetch_many([job_id], connection=conn, serializer=PayloadSerializer)[0]
    return None if job is None else job.get_status(refresh=False).value


def _waiting(conn, settings, queue: str = Q) -> int:
    return sum(conn.llen(queue_key(p)) for p in queue_catalog(settings)[queue].physical_names)


def _dlq_state(conn, job_id: str) -> str | None:
    raw = conn.get(keyspace.dlq_entry(job_id))
    return json.loads(raw)["state"] if raw else None


@dataclass
class Case:
    id: str
    method: str
    role: str
    setup: Callable[..., dict[str, Any]]
    path: Callable[[dict], str]
    observe: Callable[..., Any] = lambda conn, settings, ctx: None
    check: Callable[..., None] = lambda ctx, before, after, body: None
    body: Callable[[dict], Any] | None = None
    action: str | None = None  # the audit action an allowed mutation records
    kwargs: dict[str, Any] = field(default_factory=dict)


def _noops(n: int = 2) -> Callable[..., dict]:
    return lambda conn, settings, tmp: {"ids": enqueue_many(conn, settings, "noop", [{}] * n, queue=Q)}


def _check_metrics(ctx, before, after, body):
    assert f'jobctl_queue_jobs{{priority="normal",queue="{Q}",state="waiting"}} 2.0' in body.splitlines()


def _check_stats(ctx, before, after, body):
    queue = next(q for q in body["queues"] if q["queue"] == Q)
    assert queue["totals"]["waiting"] == 2 and "dead_letter" in body


def _check_queue(ctx, before, after, body):
    assert body["queue"] == Q and body["totals"]["waiting"] == 2 and body["paused"] is False
    assert [j["id"] for j in body["page"]["jobs"]] == ctx["ids"] and body["page"]["total"] == 2


def _check_dlq_list(ctx, before, after, body):
    assert [e["job_id"] for e in body["entries"]] == ctx["ids"][::-1]  # newest first


def _check_job(ctx, before, after, body):
    assert body["id"] == ctx["ids"][0] and body["status"] == "queued" and body["queue"] == Q


def _paused(conn, settings, ctx):
    return Q in {m.decode() for m in conn.smembers(keyspace.paused_queues())}


def _paused_first(conn, settings, tmp):
    conn.sadd(keyspace.paused_queues(), Q)
    return {}


def _schedule(conn, settings, ctx):
    raw = conn.hget(keyspace.schedules(), "nightly-noop")
    return json.loads(raw)["cron"] if raw else None


def _nightly_first(conn, settings, tmp):
    schedules.add_schedule(conn, settings, "nightly-noop", "0 3 * * *", job_type="noop")
    return {}


def _check_schedule_list(ctx, before, after, body):
    rows = {r["name"]: r for r in body["schedules"]}
    assert rows["nightly-noop"]["seeded"] is True and rows["daily-reports"]["seeded"] is False


def _paused_nightly_first(conn, settings, tmp):
    _nightly_first(conn, settings, tmp)
    schedules.pause_schedule(conn, "nightly-noop")
    return {}


def _nightly_paused(conn, settings, ctx):
    raw = conn.hget(keyspace.schedules(), "nightly-noop")
    return json.loads(raw)["paused"] if raw else None


def _nightly_last_job(conn, settings, ctx):
    raw = conn.hget(keyspace.schedules(), "nightly-noop")
    return json.loads(raw)["last_job_id"] if raw else None


def _queue_paused_by_the_library(conn, settings, tmp):
    ops.pause_queue(conn, settings, Q)  # recorded as the OS user, face api
    return {}


def _check_audit(ctx, before, after, body):
    newest = body["entries"][0]
    assert (newest["action"], newest["target"], newest["face"]) == ("queue.pause", Q, "api")
    assert body["next_cursor"] is None


def _check_alerts(ctx, before, after, body):
    assert [r["rule"] for r in body["rules"]] == list(alert_rules.RULES)
    assert body["evaluation"]["evaluated_at"] is None


def _dead(n: int) -> Callable[..., dict]:
    return lambda conn, settings, tmp: {"ids": dead_jobs(conn, settings, n)}


def _two_errors(conn, settings, tmp) -> dict:
    """Two entries dead of "boom <n>" (ids), one of another error (other); the first group's id."""
    [other] = enqueue_many(conn, settings, "fail", [{"message": "SMTP 550 refused"}], queue=P)
    ids = dead_jobs(conn, settings, 2)  # its worker runs the one above to death too
    groups = {g["count"]: g["fingerprint_id"] for g in dlq.groups(conn, settings)["groups"]}
    return {"ids": ids, "other": other, "gid": groups[2]}


def _states_of_two_errors(conn, settings, ctx):
    return [_dlq_state(conn, i) for i in (*ctx["ids"], ctx["other"])]


def _check_dlq_groups(ctx, before, after, body):
    assert (body["groups"][0]["fingerprint_id"], body["groups"][0]["count"]) == (ctx["gid"], 2)
    assert body["total_groups"] == 2 and body["groups"][1]["sample_error"] == "SMTP 550 refused"


CASES = [
    # reads: viewer and up
    Case("metrics", "GET", "viewer", _noops(), lambda c: "/metrics", check=_check_metrics),
    Case("stats", "GET", "viewer", _noops(), lambda c: "/api/jobs/stats", check=_check_stats),
    Case(
        "queue-show",
        "GET",
        "viewer",
        _noops(),
        lambda c: f"/api/jobs/queues/{Q}?state=waiting&limit=5",
        check=_check_queue,
    ),
    Case("dlq-list", "GET", "viewer", _dead(2), lambda c: "/api/jobs/dlq", check=_check_dlq_list),
    Case(
        "dlq-groups", "GET", "viewer", _two_errors, lambda c: "/api/jobs/dlq/groups", check=_check_dlq_groups
    ),
    Case(
        "dlq-list-fingerprint",
        "GET",
        "viewer",
        _two_errors,
        lambda c: f"/api/jobs/dlq?fingerprint={c['gid']}",
        check=lambda ctx, before, after, body: [e["job_id"] for e in body["entries"]] == ctx["ids"][::-1],
    ),
    Case("job-show", "GET", "viewer", _noops(1), lambda c: f"/api/jobs/{c['ids'][0]}", check=_check_job),
    Case(
        "job-search",
        "GET",
        "viewer",
        _noops(1),
        lambda c: f"/api/jobs/search?id={c['ids'][0]}",
        check=lambda ctx, before, after, body: [j["id"] for j in body["jobs"]] == ctx["ids"],
    ),
    Case(
        "schedule-list",
        "GET",
        "viewer",
        _nightly_first,
        lambda c: "/api/jobs/schedules",
        check=_check_schedule_list,
    ),
    Case(
        "schedule-show",
        "GET",
        "viewer",
        _nightly_first,
        lambda c: "/api/jobs/schedules/nightly-noop",
        check=lambda ctx, before, after, body: (
            body["name"] == "nightly-noop" and body["seeded"] is True and len(body["next_runs"]) == 3
        ),
    ),
    Case(
        "dlq-show",
        "GET",
        "viewer",
        _dead(1),
        lambda c: f"/api/jobs/dlq/{c['ids'][0]}",
        check=lambda ctx, before, after, body: (body["job_id"], body["state"]) == (ctx["ids"][0], "dead"),
    ),
    Case(
        "alerts",
        "GET",
        "viewer",
        lambda conn, settings, tmp: {},
        lambda c: "/api/alerts",
        check=_check_alerts,
    ),
    # operator
    Case(
        "audit-list",
        "GET",
        "operator",
        _queue_paused_by_the_library,
        lambda c: "/api/audit?limit=1000",
        check=_check_audit,
    ),
    Case(
        "schedule-pause",
        "POST",
        "operator",
        _nightly_first,
        lambda c: "/api/jobs/schedules/nightly-noop/pause",
        observe=_nightly_paused,
        check=lambda ctx, before, after, body: (before, after, body["changed"]) == (False, True, True),
        action="schedule.pause",
    ),
    Case(
        "schedule-resume",
        "POST",
        "operator",
        _paused_nightly_first,
        lambda c: "/api/jobs/schedules/nightly-noop/resume",
        observe=_nightly_paused,
        check=lambda ctx, before, after, body: (before, after, body["changed"]) == (True, False, True),
        action="schedule.resume",
    ),
    Case(
        "schedule-run",
        "POST",
        "operator",
        _nightly_first,
        lambda c: "/api/jobs/schedules/nightly-noop/run",
        observe=_nightly_last_job,
        check=lambda ctx, before, after, body: before is None and after == body["job_id"] is not None,
        action="schedule.run",
    ),
    Case(
        "pause",
        "POST",
        "operator",
        lambda conn, settings, tmp: {},
        lambda c: f"/api/jobs/queues/{Q}/pause",
        observe=_paused,
        check=lambda ctx, before, after, body: (before, after) == (False, True),
        action="queue.pause",
    ),
    Case(
        "resume",
        "POST",
        "operator",
        _paused_first,
        lambda c: f"/api/jobs/queues/{Q}/resume",
        observe=_paused,
        check=lambda ctx, before, after, body: (before, after) == (True, False),
        action="queue.resume",
    ),
    Case(
        "retry-failed",
        "POST",
        "operator",
        lambda conn, settings, tmp: {"ids": failed_jobs(conn, tmp, 2)},
        lambda c: "/api/jobs/retry",
        body=lambda c: {"job_ids": c["ids"]},
        observe=lambda conn, settings, ctx: [_status(conn, i) for i in ctx["ids"]],
        check=lambda ctx, before, after, body: (
            before == ["failed"] * 2 and after == ["queued"] * 2 and body["retried"] == ctx["ids"]
        ),
        action="job.retry",
    ),
    Case(
        "retry-dlq-ids",
        "POST",
        "operator",
        _dead(2),
        lambda c: "/api/jobs/retry",
        body=lambda c: {"dlq": True, "job_ids": c["ids"][:1]},
        observe=lambda conn, settings, ctx: [_dlq_state(conn, i) for i in ctx["ids"]],
        check=lambda ctx, before, after, body: (
            before == ["dead", "dead"]
            and after == ["replayed", "dead"]
            and body["replayed"] == ctx["ids"][:1]
        ),
        action="dlq.replay",
    ),
    Case(
        "retry-dlq-all",
        "POST",
        "operator",
        _dead(2),
        lambda c: "/api/jobs/retry",
        body=lambda c: {"dlq": True, "all": True, "queue": P},
        observe=lambda conn, settings, ctx: [_dlq_state(conn, i) for i in ctx["ids"]],
        check=lambda ctx, before, after, body: (
            after == ["replayed", "replayed"] and len(body["replayed"]) == 2
        ),
        action="dlq.replay",
    ),
    Case(
        "retry-dlq-fingerprint",
        "POST",
        "operator",
        _two_errors,
        lambda c: "/api/jobs/retry",
        body=lambda c: {"dlq": True, "all": True, "fingerprint": c["gid"]},
        observe=_states_of_two_errors,
        check=lambda ctx, before, after, body: (
            after == ["replayed", "replayed", "dead"] and sorted(body["replayed"]) == sorted(ctx["ids"])
        ),
        action="dlq.replay",
    ),
    Case(
        "schedule",
        "POST",
        "operator",
        lambda conn, settings, tmp: {},
        lambda c: "/api/jobs/schedule",
        body=lambda c: {"name": "nightly-noop", "cron": "0 3 * * *", "tz": "Europe/Berlin", "job": "noop"},
        observe=_schedule,
        check=lambda ctx, before, after, body: (before, after) == (None, "0 3 * * *"),
        action="schedule.add",
    ),
    Case(
        "cancel",
        "POST",
        "operator",
        _noops(1),
        lambda c: f"/api/jobs/{c['ids'][0]}/cancel",
        observe=lambda conn, settings, ctx: _status(conn, ctx["ids"][0]),
        check=lambda ctx, before, after, body: (before, after) == ("queued", "canceled"),
        action="job.cancel",
    ),
    # admin
    Case(
        "clear",
        "DELETE",
        "admin",
        _noops(3),
        lambda c: f"/api/jobs/queues/{Q}?state=waiting",
        observe=lambda conn, settings, ctx: (
            _waiting(conn, settings),
            [_status(conn, i) for i in ctx["ids"]],
        ),
        check=lambda ctx, before, after, body: (
            (before[0], after) == (3, (0, [None] * 3)) and body["total"] == 3
        ),
        action="queue.clear",
    ),
    Case(
        "job-delete",
        "DELETE",
        "admin",
        _noops(1),
        lambda c: f"/api/jobs/{c['ids'][0]}",
        observe=lambda conn, settings, ctx: _status(conn, ctx["ids"][0]),
        check=lambda ctx, before, after, body: (before, after) == ("queued", None),
        action="job.delete",
    ),
    Case(
        "dlq-purge-ids",
        "DELETE",
        "admin",
        _dead(2),
        lambda c: f"/api/jobs/dlq?job_ids={c['ids'][0]}",
        observe=lambda conn, settings, ctx: [_dlq_state(conn, i) for i in ctx["ids"]],
        check=lambda ctx, before, after, body: after == [None, "dead"] and body["purged"] == ctx["ids"][:1],
        action="dlq.purge",
    ),
    Case(
        "dlq-purge-all",
        "DELETE",
        "admin",
        _dead(2),
        lambda c: f"/api/jobs/dlq?all=true&queue={P}",
        observe=lambda conn, settings, ctx: [_dlq_state(conn, i) for i in ctx["ids"]],
        check=lambda ctx, before, after, body: after == [None, None] and len(body["purged"]) == 2,
        action="dlq.purge",
    ),
    Case(
        "dlq-purge-fingerprint",
        "DELETE",
        "admin",
        _two_errors,
        lambda c: f"/api/jobs/dlq?all=true&fingerprint={c['gid']}",
        observe=_states_of_two_errors,
        check=lambda ctx, before, after, body: after == [None, None, "dead"] and len(body["purged"]) == 2,
        action="dlq.purge",
    ),
    Case(
        "schedule-remove",
        "DELETE",
        "admin",
        _nightly_first,
        lambda c: "/api/jobs/schedules/nightly-noop",
        observe=_schedule,
        check=lambda ctx, before, after, body: (
            (before, after) == ("0 3 * * *", None) and body["removed"] == "nightly-noop"
        ),
        action="schedule.remove",
    ),
]


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_endpoint_by_caller(case, who, client, creds, redis_client, settings, tmp_path):
    ctx = case.setup(redis_client, settings, tmp_path)
    before = case.observe(redis_client, settings, ctx)
    audit_before = len(audit.list_entries(redis_client, limit=1000))
    body = case.body(ctx) if case.body else None
    response = client.request(case.method, case.path(ctx), headers=bearer(creds[who]), json=body)
    after = case.observe(redis_client, settings, ctx)

    if who in UNAUTHENTICATED:
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "unauthorized"
    elif not tokens.role_allows(who, case.role):
        assert response.status_code == 403, response.text
        assert (
            response.json()["error"]["code"] == "forbidden"
            and case.role in response.json()["error"]["message"]
        )
    else:
        assert response.status_code in (200, 201), response.text
        payload = response.text if case.id == "metrics" else response.json()
        assert case.check(ctx, before, after, payload) is not False, (before, after, payload)
        if case.action:
            [entry] = audit.list_entries(redis_client, action=case.action, limit=1)
            assert (entry["actor"], entry["face"], entry["outcome"]) == (f"{who}-token", "http", "ok")
        return
    assert after == before
    assert len(audit.list_entries(redis_client, limit=1000)) == audit_before  # refused: nothing recorded


@pytest.mark.parametrize("who", WHO)
def test_healthz_needs_no_token(who, client, creds):
    response = client.get("/healthz", headers=bearer(creds[who]))
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_a_bad_token_is_refused_even_when_it_looks_like_a_real_one_of_another(client, creds):
    # one character changed: same prefix and length, different hash
    forged = creds["admin"][:-1] + ("A" if creds["admin"][-1] != "A" else "B")
    assert client.get("/api/jobs/stats", headers=bearer(forged)).status_code == 401


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc"])
def test_malformed_authorization_headers_are_401(header, client, creds):
    response = client.get("/api/jobs/stats", headers={"Authorization": header})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
