"""The dead-letter pages in process (TestClient over the real app, real Redis, real tokens, dead letters
made by jobctl's own worker): groups, the filtered and paged list, one entry in full, replay and purge
of a filter or of one entry behind a dry-run preview, and who may do what (CSRF first, then role)."""

from __future__ import annotations

import re

import pytest

from jobctl.core import audit, dlq
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.web import dlq_pages
from tests.web.conftest import csrf_of, run_burst

PAY = "payment-retry"
MAIL = "email-sending"
DLQ = "/admin/jobs/dead-letters"


def sign_in(client, token: str) -> str:
    """Signs `client` in; returns the session's CSRF token."""
    reply = client.post("/admin/jobs/login", data={"token": token})
    assert reply.status_code == 303
    return csrf_of(client.get("/admin/jobs").text)


def dead(redis_client, settings, queue: str, messages: list[str], prefix: str) -> list[str]:
    """Jobs of the `fail` type that die on their first attempt (a permanent failure): one entry each."""
    ids = [f"{prefix}{n}" for n in range(len(messages))]
    enqueue_many(redis_client, settings, "fail", [{"message": m} for m in messages], queue=queue, job_ids=ids)
    run_burst(redis_client, settings, queue)
    return ids


@pytest.fixture
def letters(redis_client, settings) -> dict[str, list[str]]:
    """Three card declines on payment-retry (one group) and two SMTP 550s on email-sending."""
    return {
        "card": dead(
            redis_client, settings, PAY, [f"card declined for order {n}" for n in (7001, 7002, 7003)], "card-"
        ),
        "smtp": dead(redis_client, settings, MAIL, ["smtp 550 mailbox unavailable for mail 17"] * 2, "smtp-"),
    }


def waiting_ids(redis_client, settings, queue: str) -> set[str]:
    """Ids waiting on `queue`, every priority."""
    return {
        job_id
        for physical in queue_catalog(settings)[queue].physical_names
        for job_id in rq_queue(redis_client, physical).job_ids
    }


SELECTION = re.compile(r'name="selection" value="([0-9a-f]+)"')


def selection_of(html: str) -> str:
    """The digest of what a bulk preview listed, which its confirm form posts back."""
    return SELECTION.search(html).group(1)


def group_of(redis_client, settings, queue: str) -> str:
    [group] = [g for g in dlq.groups(redis_client, settings)["groups"] if queue in g["queues"]]
    return group["fingerprint_id"]


def test_the_groups_page_shows_each_group_and_only_the_buttons_a_role_may_use(
    web_client, web_tokens, letters
):
    sign_in(web_client, web_tokens["viewer"])
    page = web_client.get(DLQ)
    assert page.status_code == 200
    html = page.text
    assert "2 group(s) shown · 5 dead letter(s) in all" in html
    assert '<span class="dlq-count" data-count="3">3</span>' in html  # the three declines: one group
    assert "card declined for order 7003" in html  # the newest entry's error, whole
    assert "PermanentJobFailure: card declined for order &lt;n&gt;" in html  # the fingerprint
    assert '<span class="dlq-chip">payment-retry <b>3</b></span>' in html
    assert '<span class="dlq-chip">fail <b>3</b></span>' in html
    assert "data-action=" not in html  # a viewer: no replay, no purge
    assert f'href="{DLQ}"' in html and ">Dead letters</a>" in html  # the nav

    sign_in(web_client, web_tokens["operator"])
    html = web_client.get(DLQ).text
    assert 'data-action="replay"' in html and 'data-action="purge"' not in html
    sign_in(web_client, web_tokens["admin"])
    html = web_client.get(DLQ).text
    assert 'data-action="replay"' in html and 'data-action="purge"' in html


def test_the_groups_page_filters_by_queue_and_says_when_a_filter_is_wrong(web_client, web_tokens, letters):
    sign_in(web_client, web_tokens["viewer"])
    html = web_client.get(DLQ, params={"queue": MAIL, "since": "1h"}).text
    assert (
        "1 group(s) shown" in html and "smtp 550 mailbox unavailable" in html and "card declined" not in html
    )
    reply = web_client.get(DLQ, params={"since": "soon"})
    assert reply.status_code == 200 and 'id="filter-error"' in reply.text and "since" in reply.text
    reply = web_client.get(DLQ, params={"queue": "no-such-queue"})
    assert reply.status_code == 200 and "no-such-queue" in reply.text and 'id="filter-error"' in reply.text


def test_the_overview_links_its_dead_letter_figure_here(web_client, web_tokens, letters):
    sign_in(web_client, web_tokens["viewer"])
    html = web_client.get("/admin/jobs").text
    assert f'<a class="value" id="dead-letters" href="{DLQ}">5</a>' in html


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-job="([^"]+)">', html)


def test_the_list_filters_by_queue_error_text_group_and_since(
    web_client, web_tokens, letters, redis_client, settings
):
    sign_in(web_client, web_tokens["viewer"])
    assert listed(web_client.get(DLQ + "/list").text) == ["smtp-1", "smtp-0", "card-2", "card-1", "card-0"]
    assert listed(web_client.get(DLQ + "/list", params={"queue": PAY}).text) == ["card-2", "card-1", "card-0"]
    assert listed(web_client.get(DLQ + "/list", params={"error": "ORDER 7002"}).text) == ["card-1"]
    group = group_of(redis_client, settings, MAIL)
    assert listed(web_client.get(DLQ + "/list", params={"fingerprint": group}).text) == ["smtp-1", "smtp-0"]
    assert len(listed(web_client.get(DLQ + "/list", params={"since": "10m", "queue": ""}).text)) == 5
    reply = web_client.get(DLQ + "/list", params={"fingerprint": "nope"})
    assert reply.status_code == 200 and "invalid fingerprint" in reply.text and not listed(reply.text)
    html = web_client.get(DLQ + "/list", params={"error": "nothing like this"}).text
    assert 'id="no-entries"' in html and "matching these filters" in html


def test_the_list_pages_by_cursor_and_says_where_a_filtered_scan_stopped(
    web_client, web_tokens, letters, monkeypatch
):
    sign_in(web_client, web_tokens["viewer"])
    monkeypatch.setattr(dlq_pages, "PAGE", 2)
    html = web_client.get(DLQ + "/list").text
    assert listed(html) == ["smtp-1", "smtp-0"]
    cursor = re.search(r'id="next-page"', html) and re.search(r"cursor=(\d+)", html).group(1)
    html = web_client.get(DLQ + "/list", params={"cursor": cursor}).text
    assert listed(html) == ["card-2", "card-1"]

    monkeypatch.setattr(dlq_pages, "SCAN_LIMIT", 2)  # the two newest are SMTP: the scan stops before a card
    html = web_client.get(DLQ + "/list", params={"error": "card"}).text
    assert not listed(html) and 'id="scan-stopped"' in html and "after reading 2 entries" in html
    search_on = re.search(r'href="([^"]+)" id="search-on"', html).group(1).replace("&amp;", "&")
    assert listed(web_client.get(search_on).text) == ["card-2", "card-1"]


def test_an_entry_page_shows_everything_redacted_and_no_buttons_to_a_viewer(
    web_client, web_tokens, redis_client, settings
):
    [job_id] = dead(redis_client, settings, PAY, ["refused for jane@example.com"], "pii-")
    sign_in(web_client, web_tokens["viewer"])
    reply = web_client.get(f"{DLQ}/{job_id}")
    assert reply.status_code == 200
    html = reply.text
    entry = dlq.get_entry(redis_client, job_id)
    assert "jane@example.com" not in html  # redacted: the payload and the error carry the address
    assert entry["error_message"] in html and "PermanentJobFailure" in html
    assert 'id="payload"' in html and '"message"' in html
    assert html.count("<tr>") >= 1 and 'id="attempts"' in html and ">failed<" in html
    assert (
        "Traceback (most recent call last)" in html
        and "PermanentJobFailure" in html.split('id="traceback"')[1]
    )
    assert "Never replayed." in html and 'data-action="' not in html
    assert web_client.get(f"{DLQ}/no-such-job").status_code == 404
    assert web_client.get(f"{DLQ}/bad%20id").status_code == 404


def test_replaying_a_filter_after_its_preview_acts_on_exactly_those_filters(
    web_client, web_tokens, letters, redis_client, settings
):
    csrf = sign_in(web_client, web_tokens["operator"])
    html = web_client.get(DLQ + "/list/replay", params={"queue": PAY, "error": "7002"}).text
    assert 'id="preview-count">1<' in html and '<tr data-queue="payment-retry"><td>payment-retry</td>' in html
    assert '<input type="hidden" name="error" value="7002">' in html
    assert dlq.get_entry(redis_client, "card-1")["state"] == "dead"  # a preview changes nothing

    form = {"csrf": csrf, "queue": PAY, "error": "7002", "selection": selection_of(html)}
    reply = web_client.post(DLQ + "/list/replay", data=form)
    assert reply.status_code == 200 and "Replayed 1 dead letter(s)" in reply.text
    assert waiting_ids(redis_client, settings, PAY) == {"card-1"}
    assert {e["job_id"] for e in dlq.list_entries(redis_client, settings)["entries"]} == {
        "card-0",
        "card-2",
        "smtp-0",
        "smtp-1",
    }
    [entry] = audit.list_entries(redis_client, action="dlq.replay")
    assert (entry["actor"], entry["face"]) == ("operator-web", "web")

    html = web_client.get(DLQ + "/list/replay", params={"error": "no such error"}).text
    assert "Nothing matches" in html and 'id="confirm"' not in html


def test_purging_a_group_needs_an_admin(web_client, web_tokens, letters, redis_client, settings):
    group = group_of(redis_client, settings, MAIL)
    csrf = sign_in(web_client, web_tokens["operator"])
    assert web_client.get(DLQ + "/list/purge", params={"fingerprint": group}).status_code == 403
    reply = web_client.post(DLQ + "/list/purge", data={"csrf": csrf, "fingerprint": group})
    assert reply.status_code == 403 and "this needs the admin role" in reply.text

    csrf = sign_in(web_client, web_tokens["admin"])
    html = web_client.get(DLQ + "/list/purge", params={"fingerprint": group}).text
    assert 'id="preview-count">2<' in html and "deleted for good" in html
    form = {"csrf": csrf, "fingerprint": group, "selection": selection_of(html)}
    reply = web_client.post(DLQ + "/list/purge", data=form)
    assert reply.status_code == 200 and "Purged 2 dead letter(s)" in reply.text
    assert dlq.list_entries(redis_client, settings)["total"] == 3
    [entry] = audit.list_entries(redis_client, action="dlq.purge")
    assert (entry["actor"], entry["face"]) == ("admin-web", "web")


def test_a_purge_confirmed_after_more_entries_matched_does_nothing_and_says_so(
    web_client, web_tokens, letters, redis_client, settings
):
    """The preview listed 2 entries of a group; a third dies before the admin confirms: nothing is
    purged (the admin never saw it), the audit says so, and a fresh preview then purges all 3."""
    group = group_of(redis_client, settings, MAIL)
    csrf = sign_in(web_client, web_tokens["admin"])
    html = web_client.get(DLQ + "/list/purge", params={"fingerprint": group}).text
    assert 'id="preview-count">2<' in html
    dead(redis_client, settings, MAIL, ["smtp 550 mailbox unavailable for mail 17"], "late")
    form = {"csrf": csrf, "fingerprint": group, "selection": selection_of(html)}
    reply = web_client.post(DLQ + "/list/purge", data=form)
    assert (
        reply.status_code == 409
        and "changed since the preview (3 entries now): nothing was done" in reply.text
    )
    assert len(dlq.list_entries(redis_client, settings, fingerprint=group)["entries"]) == 3
    [entry] = audit.list_entries(redis_client, action="dlq.purge")
    assert entry["outcome"] == "failed" and entry["face"] == "web"

    html = web_client.get(DLQ + "/list/purge", params={"fingerprint": group}).text
    form["selection"] = selection_of(html)
    assert web_client.post(DLQ + "/list/purge", data=form).status_code == 200
    assert dlq.list_entries(redis_client, settings, fingerprint=group)["entries"] == []


def test_an_admin_reveals_an_entrys_personal_data_on_purpose_and_it_is_audited(
    web_client, web_tokens, redis_client, settings
):
    [job_id] = dead(redis_client, settings, MAIL, ["bounced for ann.lee@example.com"], "pii")
    csrf = sign_in(web_client, web_tokens["operator"])
    assert 'id="reveal"' not in web_client.get(f"{DLQ}/{job_id}").text
    reply = web_client.post(f"{DLQ}/{job_id}/reveal", data={"csrf": csrf})
    assert reply.status_code == 403 and "ann.lee@example.com" not in reply.text

    csrf = sign_in(web_client, web_tokens["admin"])
    page = web_client.get(f"{DLQ}/{job_id}")
    assert 'id="reveal"' in page.text and "ann.lee@example.com" not in page.text
    page = web_client.post(f"{DLQ}/{job_id}/reveal", data={"csrf": csrf})
    assert page.status_code == 200 and "ann.lee@example.com" in page.text and 'id="revealed"' in page.text
    [entry] = audit.list_entries(redis_client, action="dlq.reveal")
    assert (entry["target"], entry["actor"], entry["face"]) == (job_id, "admin-web", "web")


def test_one_entry_is_replayed_and_purged_from_its_page(
    web_client, web_tokens, letters, redis_client, settings
):
    csrf = sign_in(web_client, web_tokens["operator"])
    html = web_client.get(f"{DLQ}/card-0").text
    assert 'data-action="replay"' in html and 'data-action="purge"' not in html
    html = web_client.get(f"{DLQ}/card-0/replay").text
    assert "Replay <code>card-0</code>?" in html and 'id="preview-count">1<' in html
    reply = web_client.post(f"{DLQ}/card-0/replay", data={"csrf": csrf})
    assert reply.status_code == 303 and reply.headers["location"] == f"{DLQ}/card-0?done=replayed"
    html = web_client.get(reply.headers["location"]).text
    assert (
        'id="entry-state">replayed<' in html and "operator-web (web)" in html and 'data-action="' not in html
    )
    assert waiting_ids(redis_client, settings, PAY) == {"card-0"}
    reply = web_client.get(f"{DLQ}/card-0/replay")
    assert reply.status_code == 409 and "no longer dead-lettered" in reply.text

    csrf = sign_in(web_client, web_tokens["admin"])
    html = web_client.get(f"{DLQ}/smtp-0/purge").text
    assert "Purge <code>smtp-0</code>?" in html and "deleted for good" in html
    reply = web_client.post(f"{DLQ}/smtp-0/purge", data={"csrf": csrf})
    assert reply.status_code == 303 and reply.headers["location"] == f"{DLQ}/list?done=purged&job=smtp-0"
    assert 'id="done">Purged smtp-0.' in web_client.get(reply.headers["location"]).text
    assert web_client.get(f"{DLQ}/smtp-0").status_code == 404
    [entry] = audit.list_entries(redis_client, action="dlq.purge")
    assert (entry["actor"], entry["face"], entry["target"]) == ("admin-web", "web", "smtp-0")


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/list/replay", "viewer"),
        ("/list/purge", "operator"),
        ("/card-0/replay", "viewer"),
        ("/card-0/purge", "operator"),
    ],
)
def test_a_forged_post_is_refused_for_the_role_and_nothing_is_done(
    web_client, web_tokens, letters, redis_client, settings, path, role
):
    csrf = sign_in(web_client, web_tokens[role])
    assert web_client.get(DLQ + path).status_code == 403  # not even the preview
    reply = web_client.post(DLQ + path, data={"csrf": csrf})
    assert reply.status_code == 403 and "this needs the" in reply.text and "nothing was done" in reply.text
    assert dlq.list_entries(redis_client, settings)["total"] == 5
    assert not audit.list_entries(redis_client, action="dlq.replay")
    assert not audit.list_entries(redis_client, action="dlq.purge")


@pytest.mark.parametrize("path", ["/list/replay", "/list/purge", "/card-0/replay", "/card-0/purge"])
def test_a_missing_or_wrong_csrf_token_is_refused(
    web_client, web_tokens, letters, redis_client, settings, path
):
    csrf = sign_in(web_client, web_tokens["admin"])
    for data in ({}, {"csrf": "forged"}, {"csrf": csrf[:-1], "since": "nonsense"}):
        reply = web_client.post(DLQ + path, data=data)
        assert reply.status_code == 403 and "CSRF" in reply.text, data  # before any filter is read
    assert dlq.list_entries(redis_client, settings)["total"] == 5


def test_a_bad_filter_or_action_is_refused_with_nothing_done(
    web_client, web_tokens, letters, redis_client, settings
):
    csrf = sign_in(web_client, web_tokens["admin"])
    reply = web_client.post(DLQ + "/list/purge", data={"csrf": csrf, "since": "soon"})
    assert reply.status_code == 400 and "since" in reply.text
    assert web_client.get(DLQ + "/list/explode").status_code == 404
    assert web_client.post(DLQ + "/card-0/explode", data={"csrf": csrf}).status_code == 404
    assert dlq.list_entries(redis_client, settings)["total"] == 5
    assert not audit.list_entries(redis_client, action="dlq.purge")


def test_the_pages_need_a_session(web_client, web_tokens):
    for path in ("", "/list", "/card-0", "/list/replay", "/card-0/purge"):
        reply = web_client.get(DLQ + path)
        assert reply.status_code == 303 and reply.headers["location"] == "/admin/jobs/login", path
