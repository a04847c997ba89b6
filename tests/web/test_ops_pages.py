"""The schedules, alerts and audit pages in process (TestClient over the real app, real Redis, real
tokens): what each role sees, each action's role and CSRF check, the remove confirmation, the alert
history, the audit log's filters and pages."""

from __future__ import annotations

import json
import re

import pytest

from jobctl.core import alert_rules, audit, keyspace, schedules
from jobctl.core.bulk import enqueue_many
from jobctl.core.ops import clear_queue
from jobctl.web import ops_pages
from tests.web.conftest import csrf_of

NAME = "nightly-noop"


def sign_in(client, token: str) -> str:
    """Signs `client` in; returns the session's CSRF token."""
    reply = client.post("/admin/jobs/login", data={"token": token})
    assert reply.status_code == 303
    return csrf_of(client.get("/admin/jobs").text)


@pytest.fixture
def nightly(redis_client, settings):
    schedules.add_schedule(redis_client, settings, NAME, "0 3 * * *", tz="Europe/Paris", job_type="noop")
    return NAME


def stored(redis_client) -> dict | None:
    raw = redis_client.hget(keyspace.schedules(), NAME)
    return None if raw is None else json.loads(raw)


def test_pages_need_a_session(web_client, web_tokens):
    for path in ("schedules", "alerts", "audit", f"schedules/{NAME}/remove"):
        reply = web_client.get(f"/admin/jobs/{path}")
        assert reply.status_code == 303 and reply.headers["location"] == "/admin/jobs/login", path


def test_the_schedules_page_shows_each_schedule_and_a_viewer_no_actions(web_client, web_tokens, nightly):
    sign_in(web_client, web_tokens["viewer"])
    page = web_client.get("/admin/jobs/schedules")
    assert page.status_code == 200
    row = re.search(rf'<tr id="schedule-{NAME}".*?</tr>', page.text, re.S).group(0)
    assert "<code>0 3 * * *</code>" in row and "Europe/Paris" in row and "never run" in row
    assert re.search(r"\d\d:00 UTC · \d{4}-\d\d-\d\d 03:00", row)  # a next run in UTC and Paris time
    assert "data-action" not in page.text and 'name="csrf"' in page.text  # only sign-out's form
    assert 'id="nav-audit"' not in page.text and 'id="nav-schedules"' in page.text


def test_an_operator_pauses_resumes_and_runs_a_schedule_now(web_client, web_tokens, nightly, redis_client):
    csrf = sign_in(web_client, web_tokens["operator"])
    page = web_client.get("/admin/jobs/schedules").text
    assert f'data-action="pause" data-schedule="{NAME}"' in page and 'data-action="remove"' not in page
    reply = web_client.post(f"/admin/jobs/schedules/{NAME}/pause", data={"csrf": csrf})
    assert reply.status_code == 303 and reply.headers["location"] == f"/admin/jobs/schedules#schedule-{NAME}"
    assert stored(redis_client)["paused"] is True
    assert f'data-paused-schedule="{NAME}"' in web_client.get("/admin/jobs/schedules").text
    web_client.post(f"/admin/jobs/schedules/{NAME}/resume", data={"csrf": csrf})
    assert stored(redis_client)["paused"] is False

    reply = web_client.post(f"/admin/jobs/schedules/{NAME}/run", data={"csrf": csrf})
    assert reply.status_code == 303
    job_id = stored(redis_client)["last_job_id"]
    assert job_id.startswith(f"sched-{NAME}-manual-") and f"job={job_id}" in reply.headers["location"]
    page = web_client.get(reply.headers["location"]).text
    assert f'href="/admin/jobs/job/{job_id}">{job_id}</a> queued' in page
    assert f'href="/admin/jobs/job/{job_id}" class="last-job">queued</a>' in page  # last run's outcome
    done = [
        (e["action"], e["actor"], e["face"])
        for e in audit.list_entries(redis_client, face="web")
        if e["action"] != "enqueue"  # "run now" queues a job: its own entry, tested elsewhere
    ]
    assert done == [("schedule.run", "operator-web", "web")] + [
        (a, "operator-web", "web") for a in ("schedule.resume", "schedule.pause")
    ]


def test_schedule_actions_check_csrf_then_role(web_client, web_tokens, nightly, redis_client):
    csrf = sign_in(web_client, web_tokens["viewer"])
    for action in ("pause", "run", "remove"):
        reply = web_client.post(
            f"/admin/jobs/schedules/{NAME}/{action}", data={"csrf": csrf, "confirm": NAME}
        )
        assert reply.status_code == 403 and "this needs the" in reply.text, action
    assert web_client.get(f"/admin/jobs/schedules/{NAME}/remove").status_code == 403
    web_client.cookies.clear()
    csrf = sign_in(web_client, web_tokens["admin"])
    for data in ({}, {"csrf": "forged"}):
        reply = web_client.post(f"/admin/jobs/schedules/{NAME}/pause", data=data)
        assert reply.status_code == 403 and "CSRF" in reply.text
    assert web_client.post(f"/admin/jobs/schedules/{NAME}/explode", data={"csrf": csrf}).status_code == 404
    reply = web_client.post("/admin/jobs/schedules/no-such/pause", data={"csrf": csrf})
    assert reply.status_code == 404 and "no schedule" in reply.text
    assert stored(redis_client)["paused"] is False and stored(redis_client)["last_job_id"] is None


def test_an_admin_removes_a_schedule_after_typing_its_name(web_client, web_tokens, nightly, redis_client):
    csrf = sign_in(web_client, web_tokens["admin"])
    page = web_client.get("/admin/jobs/schedules").text
    assert f'href="/admin/jobs/schedules/{NAME}/remove"' in page
    confirm = web_client.get(f"/admin/jobs/schedules/{NAME}/remove")
    assert confirm.status_code == 200 and "Jobs it already queued are not touched" in confirm.text
    reply = web_client.post(f"/admin/jobs/schedules/{NAME}/remove", data={"csrf": csrf, "confirm": "nightly"})
    assert reply.status_code == 400 and "type the schedule&#39;s name" in reply.text
    assert stored(redis_client) is not None
    reply = web_client.post(f"/admin/jobs/schedules/{NAME}/remove", data={"csrf": csrf, "confirm": NAME})
    assert reply.status_code == 303 and stored(redis_client) is None
    assert f"Removed schedule {NAME}." in web_client.get(reply.headers["location"]).text
    [entry] = audit.list_entries(redis_client, action="schedule.remove")
    assert (entry["actor"], entry["face"], entry["target"]) == ("admin-web", "web", NAME)
    assert web_client.get("/admin/jobs/schedules/no-such/remove").status_code == 404


def test_the_alerts_page_shows_rules_and_history(web_client, web_tokens, redis_client, configure):
    settings = configure(JOBCTL_ALERT_COOLDOWN="0")
    sign_in(web_client, web_tokens["viewer"])
    page = web_client.get("/admin/jobs/alerts").text
    assert 'id="no-history"' in page and "never evaluated" in page
    assert all(f'data-rule="{rule}"' in page for rule in alert_rules.RULES)
    enqueue_many(redis_client, settings, "noop", [{}] * 2, queue="payment-retry")  # and no worker
    alert_rules.evaluate(redis_client, settings)
    clear_queue(redis_client, settings, "payment-retry", "waiting")
    alert_rules.evaluate(redis_client, settings)
    page = web_client.get("/admin/jobs/alerts").text
    rows = re.findall(r'<tr data-event="(\w+)" data-rule="(\w+)" data-subject="([\w-]+)">', page)
    assert rows == [("resolved", "no_worker", "payment-retry"), ("firing", "no_worker", "payment-retry")]
    assert "payment-retry has 2 waiting jobs and no live worker" in page


def _cells(row: str) -> list[str]:
    """A table row's cells as text (tags stripped)."""
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_the_alerts_page_shows_a_resolving_with_the_value_then_and_for_how_long(
    web_client, web_tokens, redis_client, configure
):
    settings = configure(
        JOBCTL_ALERT_COOLDOWN="0",
        JOBCTL_ALERT_QUEUE_SIZE="2",
        JOBCTL_ALERT_NO_WORKER="false",
        JOBCTL_ALERT_OLDEST_WAIT="0",  # a fixed clock ahead of the enqueue times: it would fire too
    )
    sign_in(web_client, web_tokens["viewer"])
    enqueue_many(redis_client, settings, "noop", [{}] * 5, queue="payment-retry")
    alert_rules.evaluate(redis_client, settings, now=1_800_000_000)
    clear_queue(redis_client, settings, "payment-retry", "waiting")
    enqueue_many(redis_client, settings, "noop", [{}], queue="payment-retry")
    alert_rules.evaluate(redis_client, settings, now=1_800_000_000 + 90)
    page = web_client.get("/admin/jobs/alerts").text
    resolved, fired = re.findall(r'<tr data-event="\w+" data-rule="queue_size".*?</tr>', page, re.S)
    assert _cells(resolved)[1:] == [
        "resolved",
        "queue_size",
        "payment-retry",
        "1",
        "1m30s",
        "payment-retry has 1 waiting job (threshold 2): resolved after firing for 1m30s",
    ]
    assert _cells(fired)[1:] == [
        "firing",
        "queue_size",
        "payment-retry",
        "5",
        "-",
        "payment-retry has 5 waiting jobs",
    ]


def test_the_audit_page_is_for_operators_filters_and_pages(web_client, web_tokens, monkeypatch):
    sign_in(web_client, web_tokens["viewer"])
    reply = web_client.get("/admin/jobs/audit")
    assert reply.status_code == 403 and "needs the operator role" in reply.text
    web_client.cookies.clear()
    csrf = sign_in(web_client, web_tokens["operator"])
    for _ in range(3):  # three changes through the web face; the tokens' creation came through the CLI's core
        web_client.post("/admin/jobs/queues/email-sending/pause", data={"csrf": csrf})
    page = web_client.get("/admin/jobs/audit").text
    assert 'data-face="web" data-action="queue.pause"' in page and 'data-action="token.create"' in page
    only_web = web_client.get("/admin/jobs/audit", params={"face": "web", "since": "1h", "actor": ""}).text
    assert only_web.count('data-face="web"') == 3 and "token.create" not in only_web
    assert '<option value="web" selected>' in only_web

    monkeypatch.setattr(ops_pages, "AUDIT_PAGE", 2)
    first = web_client.get("/admin/jobs/audit", params={"face": "web"}).text
    assert first.count("<tr data-face") == 2 and 'id="first-page"' not in first
    next_url = re.search(r'href="([^"]+)" id="next-page"', first).group(1).replace("&amp;", "&")
    assert "face=web" in next_url and "cursor=" in next_url
    second = web_client.get(next_url).text
    assert second.count("<tr data-face") == 1 and 'id="next-page"' not in second
    assert 'id="first-page"' in second

    for params, said in (({"since": "yesterday"}, "since expects"), ({"face": "mobile"}, "unknown face")):
        reply = web_client.get("/admin/jobs/audit", params=params)
        assert reply.status_code == 200 and said in reply.text and 'id="error"' in reply.text


def test_the_audit_page_filters_enqueue_entries_by_job_type(web_client, web_tokens, redis_client, settings):
    for job_type, target in (("email", "e-1"), ("file", "f-1"), ("email", "e-2 .. e-9")):
        filters = {"type": job_type, "queue": "email-sending", "priority": "normal"}
        audit.record(redis_client, settings, audit.Entry("enqueue", target, filters=filters, count=1))
    sign_in(web_client, web_tokens["operator"])
    page = web_client.get("/admin/jobs/audit", params={"action": "enqueue", "type": "email"}).text
    rows = re.findall(
        r'<tr data-face="\w+" data-action="(\w+)" data-type="(\w*)">\s*(?:<td>.*</td>\s*){4}'
        r'<td class="wrap">([^<]*)</td>',
        page,
    )
    assert rows == [("enqueue", "email", "e-2 .. e-9"), ("enqueue", "email", "e-1")]
    assert '<option value="email" selected>' in page and 'value="enqueue"' in page
    # every registered job type is offered; an empty choice means any
    everything = web_client.get("/admin/jobs/audit", params={"type": ""}).text
    assert everything.count('<tr data-face="api" data-action="enqueue"') == 3
    assert '<option value="file">file</option>' in everything and "token.create" in everything
    # a type no longer registered still filters, and stays selected
    gone = web_client.get("/admin/jobs/audit", params={"type": "fax"}).text
    assert '<option value="fax" selected>' in gone and 'id="no-entries"' in gone


def test_the_audit_page_filters_by_the_scheduler_and_worker_faces(
    web_client, web_tokens, redis_client, settings
):
    filters = {"type": "noop", "queue": "email-sending", "priority": "normal"}
    for actor, face in (("schedule:tidy", "scheduler"), ("job:parent-1", "worker")):
        with audit.acting_as(audit.Actor(actor, face)):
            audit.record(
                redis_client, settings, audit.Entry("enqueue", f"{face}-job", filters=filters, count=1)
            )
    sign_in(web_client, web_tokens["operator"])
    for face in ("scheduler", "worker"):
        page = web_client.get("/admin/jobs/audit", params={"face": face}).text
        assert (
            page.count("<tr data-face") == 1 and f'<tr data-face="{face}"' in page and f"{face}-job" in page
        )
        assert f'<option value="{face}" selected>' in page
