"""The queue page and the job page in process (TestClient over the real app, real Redis, real tokens):
what they list and show (redacted), search, paging, and every action's role, CSRF and audit entry."""

from __future__ import annotations

import re

import pytest
from rq.job import Job

from jobctl.core import audit, keyspace
from jobctl.core.bulk import enqueue, enqueue_many
from jobctl.core.stats import queue_stats
from jobctl.web import jobs_pages
from tests.web.conftest import csrf_of
from tests.web.test_pages import sign_in

QUEUE = "email-sending"
FAILING = "payment-retry"
WELCOME = {"name": "Ann", "login_url": "https://shop.example/login"}


def email(conn, settings, to: str, **kw) -> str:
    return enqueue(conn, settings, "email", {"to": to, "template": "welcome", "data": WELCOME}, **kw)


def totals(conn, settings, queue: str) -> dict[str, int]:
    return queue_stats(conn, settings, queue)["queues"][0]["totals"]


def web_entries(conn) -> list[dict]:
    """The audit entries of the dashboard's actions (the fixtures' token.create entries left out)."""
    return [e for e in audit.list_entries(conn) if e["face"] == "web"]


def job_ids_on(html: str) -> list[str]:
    return re.findall(r'<tr data-job="([^"]+)"', html)


def test_the_queue_page_lists_a_state_with_counts_and_pages_of_fifty(
    web_client, web_tokens, redis_client, settings
):
    ids = enqueue_many(redis_client, settings, "noop", [{}] * 52, queue=QUEUE)
    later = enqueue(redis_client, settings, "noop", {}, delay=3600, queue=QUEUE)
    sign_in(web_client, web_tokens["viewer"])

    page = web_client.get(f"/admin/jobs/queues/{QUEUE}")
    assert page.status_code == 200
    assert job_ids_on(page.text) == ids[:50]  # waiting by default, oldest first, 50 a page
    assert 'data-count="waiting">52<' in page.text and 'data-count="scheduled">1<' in page.text
    assert "1–50 of 52 waiting" in page.text
    older = re.search(r'id="next">', page.text) and re.search(r'href="([^"]+)" id="next"', page.text).group(1)
    page = web_client.get(older.replace("&amp;", "&"))
    assert job_ids_on(page.text) == ids[50:] and "51–52 of 52 waiting" in page.text
    assert 'id="next"' not in page.text and 'id="prev"' in page.text

    page = web_client.get(f"/admin/jobs/queues/{QUEUE}?state=scheduled")
    assert job_ids_on(page.text) == [later] and "runs at (UTC)" in page.text


def test_the_queue_page_refuses_an_unknown_queue_or_state_with_a_page(web_client, web_tokens):
    sign_in(web_client, web_tokens["viewer"])
    reply = web_client.get("/admin/jobs/queues/no-such-queue")
    assert reply.status_code == 404 and "unknown queue" in reply.text and "<html" in reply.text
    reply = web_client.get(f"/admin/jobs/queues/{QUEUE}?state=lost")
    assert reply.status_code == 400 and "unknown state" in reply.text


def test_search_by_recipient_id_and_type_says_how_much_it_scanned(
    web_client, web_tokens, redis_client, settings
):
    ann = email(redis_client, settings, "ann@example.com")
    email(redis_client, settings, "bob@example.com")
    sign_in(web_client, web_tokens["viewer"])

    page = web_client.get(f"/admin/jobs/queues/{QUEUE}", params={"find": "recipient", "q": "ann@example.com"})
    found = page.text.split('id="found"')[1].split("</table>")[0]
    assert job_ids_on(found) == [ann]
    assert 'data-complete="yes" data-scanned="2" data-total="2"' in page.text
    assert "complete: scanned all 2 jobs" in page.text
    assert "ann@example.com" not in page.text.replace('value="ann@example.com"', "").replace(
        "“ann@example.com”", ""
    )  # the search text is echoed; no job content shows the address

    page = web_client.get(f"/admin/jobs/queues/{QUEUE}", params={"find": "id", "q": ann})
    assert "looked up by id" in page.text and f'data-job="{ann}"' in page.text
    page = web_client.get(f"/admin/jobs/queues/{QUEUE}", params={"find": "type", "q": "email"})
    assert page.text.count('data-job="') == 4  # two found, and the two in the waiting tab

    page = web_client.get(f"/admin/jobs/queues/{QUEUE}", params={"find": "type", "q": "nope"})
    assert page.status_code == 400 and "unknown job type" in page.text
    page = web_client.get(f"/admin/jobs/queues/{QUEUE}", params={"find": "recipient", "q": "a" * 321})
    assert page.status_code == 400 and "longer than 320 characters" in page.text


def test_a_bounded_search_says_so(web_client, web_tokens, redis_client, settings, monkeypatch):
    monkeypatch.setattr(jobs_pages, "SCAN_LIMIT", 3)
    for n in range(5):
        email(redis_client, settings, f"user{n}@example.com")
    sign_in(web_client, web_tokens["viewer"])
    page = web_client.get(
        f"/admin/jobs/queues/{QUEUE}", params={"find": "recipient", "q": "nobody@example.com"}
    )
    assert 'data-complete="no" data-scanned="3" data-total="5"' in page.text
    assert "bounded: scanned 3 of 5 jobs" in page.text


def test_the_job_page_shows_the_job_redacted_with_its_attempts(
    web_client, web_tokens, redis_client, settings
):
    job_id = email(redis_client, settings, "ann.lee@example.com")
    sign_in(web_client, web_tokens["admin"])
    page = web_client.get(f"/admin/jobs/job/{job_id}")
    assert page.status_code == 200
    assert "ann.lee@example.com" not in page.text and "a***@example.com" in page.text  # admin too, unasked
    assert "attempt 0 of" in page.text and 'id="status">queued<' in page.text
    assert 'data-action="cancel"' in page.text and 'data-action="delete"' in page.text
    assert 'data-action="retry"' not in page.text  # only a failed job is retried

    reply = web_client.get("/admin/jobs/job/no-such-job")
    assert reply.status_code == 404 and "no job" in reply.text
    reply = web_client.get("/admin/jobs/job/bad%20id")
    assert reply.status_code == 400 and "invalid job id" in reply.text


def test_an_admin_reveals_personal_data_on_purpose_and_it_is_audited(
    web_client, web_tokens, redis_client, settings
):
    job_id = email(redis_client, settings, "ann.lee@example.com")
    csrf = sign_in(web_client, web_tokens["operator"])
    assert 'id="reveal"' not in web_client.get(f"/admin/jobs/job/{job_id}").text
    reply = web_client.post(f"/admin/jobs/job/{job_id}/reveal", data={"csrf": csrf})
    assert reply.status_code == 403 and "ann.lee@example.com" not in reply.text
    assert not web_entries(redis_client)

    csrf = sign_in(web_client, web_tokens["admin"])
    page = web_client.get(f"/admin/jobs/job/{job_id}")
    assert 'id="reveal"' in page.text and "ann.lee@example.com" not in page.text
    assert web_client.post(f"/admin/jobs/job/{job_id}/reveal", data={}).status_code == 403  # no CSRF token
    page = web_client.post(f"/admin/jobs/job/{job_id}/reveal", data={"csrf": csrf})
    assert page.status_code == 200 and "ann.lee@example.com" in page.text and 'id="revealed"' in page.text
    [entry] = web_entries(redis_client)
    assert (entry["action"], entry["target"], entry["actor"]) == ("job.reveal", job_id, "admin-web")


def test_a_scheduled_job_says_when_it_runs(web_client, web_tokens, redis_client, settings):
    job_id = enqueue(redis_client, settings, "noop", {}, delay=3600, queue=QUEUE)
    sign_in(web_client, web_tokens["viewer"])
    page = web_client.get(f"/admin/jobs/job/{job_id}")
    assert 'id="runs-at"' in page.text and 'id="status">scheduled<' in page.text


def test_a_viewer_sees_no_action_and_a_forged_post_is_refused(web_client, web_tokens, redis_client, settings):
    job_id = email(redis_client, settings, "ann@example.com")
    csrf = sign_in(web_client, web_tokens["viewer"])
    for path in (f"/admin/jobs/queues/{QUEUE}", f"/admin/jobs/job/{job_id}"):
        page = web_client.get(path)
        assert "data-action=" not in page.text and 'id="clear"' not in page.text
    posts = [
        (f"/admin/jobs/queues/{QUEUE}/actions/pause", "operator"),
        (f"/admin/jobs/job/{job_id}/retry", "operator"),
        (f"/admin/jobs/job/{job_id}/cancel", "operator"),
        (f"/admin/jobs/job/{job_id}/delete", "admin"),
        (f"/admin/jobs/queues/{QUEUE}/clear/waiting", "admin"),
    ]
    for path, role in posts:
        reply = web_client.post(path, data={"csrf": csrf, "confirm": QUEUE})
        assert reply.status_code == 403 and f"this needs the {role} role" in reply.text, path
    assert web_client.get(f"/admin/jobs/queues/{QUEUE}/clear/waiting").status_code == 403
    assert web_client.get(f"/admin/jobs/job/{job_id}/delete").status_code == 403
    assert totals(redis_client, settings, QUEUE)["waiting"] == 1
    assert not redis_client.sismember(keyspace.paused_queues(), QUEUE)
    assert not web_entries(redis_client)


@pytest.mark.parametrize("csrf", [None, "forged"])
def test_actions_without_the_sessions_csrf_token_are_refused(
    web_client, web_tokens, redis_client, settings, csrf
):
    job_id = email(redis_client, settings, "ann@example.com")
    sign_in(web_client, web_tokens["admin"])
    data = {"confirm": QUEUE} | ({"csrf": csrf} if csrf else {})
    for path in (
        f"/admin/jobs/queues/{QUEUE}/actions/pause",
        f"/admin/jobs/queues/{QUEUE}/clear/waiting",
        f"/admin/jobs/job/{job_id}/cancel",
        f"/admin/jobs/job/{job_id}/delete",
        f"/admin/jobs/job/{job_id}/retry",
    ):
        reply = web_client.post(path, data=data)
        assert reply.status_code == 403 and "CSRF" in reply.text, path
    assert totals(redis_client, settings, QUEUE)["waiting"] == 1 and not web_entries(redis_client)


def test_an_operator_pauses_and_resumes_from_the_queue_page(web_client, web_tokens, redis_client):
    csrf = sign_in(web_client, web_tokens["operator"])
    reply = web_client.post(f"/admin/jobs/queues/{QUEUE}/actions/pause", data={"csrf": csrf})
    assert reply.status_code == 303 and reply.headers["location"] == f"/admin/jobs/queues/{QUEUE}"
    page = web_client.get(f"/admin/jobs/queues/{QUEUE}")
    assert 'id="paused"' in page.text and 'data-action="resume"' in page.text
    assert 'id="clear"' not in page.text  # an operator may not clear
    web_client.post(f"/admin/jobs/queues/{QUEUE}/actions/resume", data={"csrf": csrf})
    assert not redis_client.sismember(keyspace.paused_queues(), QUEUE)
    assert [(e["action"], e["actor"], e["face"]) for e in web_entries(redis_client)] == [
        ("queue.resume", "operator-web", "web"),
        ("queue.pause", "operator-web", "web"),
    ]


def test_clear_shows_the_dry_run_count_and_needs_the_queues_name(
    web_client, web_tokens, redis_client, settings
):
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue=QUEUE)
    csrf = sign_in(web_client, web_tokens["admin"])
    assert 'id="clear"' in web_client.get(f"/admin/jobs/queues/{QUEUE}").text
    page = web_client.get(f"/admin/jobs/queues/{QUEUE}/clear/waiting")
    assert page.status_code == 200 and 'id="dry-run-total">3<' in page.text
    assert totals(redis_client, settings, QUEUE)["waiting"] == 3  # the dry run removed nothing

    for typed in ("", "email", "EMAIL-SENDING"):
        reply = web_client.post(
            f"/admin/jobs/queues/{QUEUE}/clear/waiting", data={"csrf": csrf, "confirm": typed}
        )
        assert reply.status_code == 400
        expected = "Type the queue's name" if not typed else f"You typed {typed!r}"
        assert expected in reply.text.replace("&#39;", "'") and "Nothing was cleared" in reply.text
        assert 'id="dry-run-total">3<' in reply.text
    assert totals(redis_client, settings, QUEUE)["waiting"] == 3 and not web_entries(redis_client)

    reply = web_client.post(
        f"/admin/jobs/queues/{QUEUE}/clear/waiting", data={"csrf": csrf, "confirm": QUEUE}
    )
    assert reply.status_code == 200 and 'id="cleared-total">3<' in reply.text
    assert totals(redis_client, settings, QUEUE)["waiting"] == 0
    [entry] = audit.list_entries(redis_client, action="queue.clear")
    assert (entry["actor"], entry["face"], entry["target"]) == ("admin-web", "web", QUEUE)


def test_the_dead_letter_queue_is_neither_paused_nor_cleared_here(
    web_client, web_tokens, redis_client, settings
):
    csrf = sign_in(web_client, web_tokens["admin"])
    page = web_client.get("/admin/jobs/queues/dead-letter")
    assert page.status_code == 200 and "data-action=" not in page.text and 'id="clear"' not in page.text
    reply = web_client.post(
        "/admin/jobs/queues/dead-letter/clear/failed", data={"csrf": csrf, "confirm": "dead-letter"}
    )
    assert reply.status_code == 400 and "dead-letter queue is not cleared" in reply.text


def test_retry_a_failed_job_from_its_page(web_client, web_tokens, redis_client, tmp_path):
    from tests.tui.dash_helpers import failed_jobs, with_failures  # lazy: they load the TUI's helpers

    settings = with_failures(tmp_path, FAILING)
    [job_id] = failed_jobs(redis_client, settings, FAILING, ["web-failed-1"])
    csrf = sign_in(web_client, web_tokens["operator"])
    page = web_client.get(f"/admin/jobs/job/{job_id}")
    assert 'id="status">failed<' in page.text and "boom 0" in page.text and 'data-action="retry"' in page.text
    assert 'data-action="delete"' not in page.text  # an operator may not delete

    reply = web_client.post(f"/admin/jobs/job/{job_id}/retry", data={"csrf": csrf})
    assert reply.status_code == 303 and reply.headers["location"] == f"/admin/jobs/job/{job_id}?done=retried"
    page = web_client.get(reply.headers["location"])
    assert "Retried: the job is back in its queue." in page.text and 'id="status">queued<' in page.text
    assert totals(redis_client, settings, FAILING)["failed"] == 0
    [entry] = audit.list_entries(redis_client, action="job.retry")
    assert (entry["actor"], entry["face"], entry["target"]) == ("operator-web", "web", job_id)

    reply = web_client.post(f"/admin/jobs/job/{job_id}/retry", data={"csrf": csrf})  # no longer failed
    assert reply.status_code == 409 and "was not retried" in reply.text


def test_a_dead_lettered_job_links_to_its_entry(web_client, web_tokens, redis_client, settings):
    from tests.tui.dash_helpers import dead_jobs  # lazy: they load the TUI's helpers

    [job_id] = dead_jobs(redis_client, settings, ["web-dead-1"], queue=FAILING)
    sign_in(web_client, web_tokens["admin"])
    page = web_client.get(f"/admin/jobs/job/{job_id}")
    assert f'href="/admin/jobs/dead-letters/{job_id}" id="dead-letter-link"' in page.text
    assert 'id="timeline"' in page.text and "failed" in page.text and "Replay" in page.text
    assert 'data-action="delete"' not in page.text  # the core refuses it: purge from the dead letters
    listed = web_client.get("/admin/jobs/queues/dead-letter")
    assert f'data-job="{job_id}"' in listed.text

    redis_client.delete(Job.key_for(job_id))  # the job's own data gone: its entry is all there is
    page = web_client.get(f"/admin/jobs/job/{job_id}")
    assert page.status_code == 200 and 'id="dead-letter-link"' in page.text and "data is gone" in page.text
    assert "data-action=" not in page.text


def test_cancel_and_delete_from_the_job_page(web_client, web_tokens, redis_client, settings):
    first, second = enqueue_many(redis_client, settings, "noop", [{}] * 2, queue=QUEUE)
    csrf = sign_in(web_client, web_tokens["admin"])
    reply = web_client.post(f"/admin/jobs/job/{first}/cancel", data={"csrf": csrf})
    assert reply.headers["location"] == f"/admin/jobs/job/{first}?done=canceled"
    assert 'id="status">canceled<' in web_client.get(f"/admin/jobs/job/{first}").text

    confirm = web_client.get(f"/admin/jobs/job/{second}/delete")
    assert confirm.status_code == 200 and 'id="confirm-delete"' in confirm.text
    reply = web_client.post(f"/admin/jobs/job/{second}/delete", data={"csrf": csrf_of(confirm.text)})
    assert reply.status_code == 200 and f"/admin/jobs/queues/{QUEUE}" in reply.text
    assert web_client.get(f"/admin/jobs/job/{second}").status_code == 404
    assert [(e["action"], e["face"]) for e in web_entries(redis_client)] == [
        ("job.delete", "web"),
        ("job.cancel", "web"),
    ]


def test_the_queue_page_costs_the_same_whatever_the_queue_length(
    web_client, web_tokens, redis_client, settings, monkeypatch
):
    """A page of 50: the commands sent do not grow with the queue (a search is bounded by its scan limit)."""
    from tests.redis_commands import commands_sent  # lazy: only this test counts commands

    sign_in(web_client, web_tokens["viewer"])

    def page_commands() -> list[str]:
        sent = commands_sent(monkeypatch, lambda: web_client.get(f"/admin/jobs/queues/{QUEUE}"))
        return sorted(c.split()[0] for c in sent)  # names only: the first argument names each job

    enqueue_many(redis_client, settings, "noop", [{}] * 60, queue=QUEUE)
    few = page_commands()
    assert "LRANGE" in few and "HGETALL" in few  # the page was read through this client
    enqueue_many(redis_client, settings, "noop", [{}] * 1500, queue=QUEUE)
    assert page_commands() == few
