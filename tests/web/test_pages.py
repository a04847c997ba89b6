"""The dashboard's access rules in process (TestClient over the real app, real Redis, real tokens):
redirects, the session cookie and its Redis record, sign-in failures, CSRF and roles on every POST,
the loopback anonymous viewer, revocation, and pages that load nothing from elsewhere."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from jobctl.core import audit, keyspace, tokens
from jobctl.http import create_app
from jobctl.web import pages
from tests.web.conftest import csrf_of

QUEUE = "email-sending"


def sign_in(client, token: str) -> str:
    """Signs `client` in; returns the session's CSRF token."""
    reply = client.post("/admin/jobs/login", data={"token": token})
    assert reply.status_code == 303 and reply.headers["location"] == "/admin/jobs"
    return csrf_of(client.get("/admin/jobs").text)


def session_keys(redis_client) -> list[bytes]:
    return list(redis_client.scan_iter(match=keyspace.web_session("*"), count=1000))


@pytest.mark.parametrize("path", ["/", "/admin", "/admin/", "/admin/jobs/"])
def test_the_root_and_admin_lead_to_the_dashboard(web_client, path):
    reply = web_client.get(path)
    assert reply.status_code == 307 and reply.headers["location"] == "/admin/jobs"


def test_pages_need_a_session_and_the_fragment_says_401(web_client, web_tokens):
    reply = web_client.get("/admin/jobs")
    assert reply.status_code == 303 and reply.headers["location"] == "/admin/jobs/login"
    reply = web_client.get("/admin/jobs/fragments/overview")
    assert reply.status_code == 401 and reply.headers["x-jobctl-sign-in"] == "/admin/jobs/login"
    web_client.cookies.set("jobctl_session", "made-up")
    reply = web_client.get("/admin/jobs")
    assert reply.headers["location"] == "/admin/jobs/login?expired=1"  # a cookie that names no session


def test_the_session_cookie_and_its_record(web_client, web_tokens, redis_client, settings):
    reply = web_client.post("/admin/jobs/login", data={"token": web_tokens["viewer"]})
    cookie = reply.headers["set-cookie"]
    value = re.match(r"jobctl_session=([^;]+);", cookie).group(1)
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path=/admin", "samesite=strict", f"max-age={settings.web_session_ttl}"} <= attributes
    assert "secure" not in attributes  # plain HTTP: a Secure cookie would never come back
    assert settings.web_session_ttl == 8 * 3600
    [key] = session_keys(redis_client)
    assert value.encode() not in key and value.encode() not in b"".join(
        redis_client.hvals(key)
    )  # only its hash
    assert 8 * 3600 - 5 <= redis_client.ttl(key) <= 8 * 3600
    page = web_client.get("/admin/jobs")
    assert page.status_code == 200 and "viewer-web · viewer" in page.text


def test_over_tls_the_cookie_is_secure(settings, redis_client, web_tokens):
    with TestClient(
        create_app(settings, redis_client), base_url="https://testserver", follow_redirects=False
    ) as c:
        cookie = c.post("/admin/jobs/login", data={"token": web_tokens["viewer"]}).headers["set-cookie"]
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


def test_a_wrong_token_says_one_line_and_is_slowed(web_client, web_tokens, redis_client):
    for token in ("jct_" + "A" * 43, web_tokens["viewer"] + "x", ""):
        started = time.monotonic()
        reply = web_client.post("/admin/jobs/login", data={"token": token})
        assert time.monotonic() - started >= pages.FAILED_SIGN_IN_DELAY
        assert reply.status_code == 401 and "set-cookie" not in reply.headers
        [line] = re.findall(r'<p class="error" role="alert" id="login-error">([^<]*)</p>', reply.text)
        assert line in ("That token is not valid (mistyped, or revoked).", "Paste a token first.")
        assert "Traceback" not in reply.text
    assert not session_keys(redis_client)


@pytest.mark.parametrize("role, allowed", [("viewer", False), ("operator", True), ("admin", True)])
def test_pause_needs_the_operator_role_and_shows_only_to_it(
    web_client, web_tokens, redis_client, role, allowed
):
    csrf = sign_in(web_client, web_tokens[role])
    page = web_client.get("/admin/jobs").text
    assert ('data-action="pause"' in page) is allowed  # no button the role may not use
    reply = web_client.post(f"/admin/jobs/queues/{QUEUE}/pause", data={"csrf": csrf})
    assert reply.status_code == (303 if allowed else 403)
    assert bool(redis_client.sismember(keyspace.paused_queues(), QUEUE)) is allowed
    entries = audit.list_entries(redis_client, action="queue.pause")
    assert [(e["actor"], e["face"]) for e in entries] == ([(f"{role}-web", "web")] if allowed else [])


@pytest.mark.parametrize("form", [{}, {"csrf": ""}, {"csrf": "wrong"}], ids=["missing", "empty", "wrong"])
@pytest.mark.parametrize("path", [f"/admin/jobs/queues/{QUEUE}/pause", "/admin/jobs/logout"])
def test_a_post_without_the_sessions_csrf_token_is_refused(web_client, web_tokens, redis_client, form, path):
    sign_in(web_client, web_tokens["admin"])
    reply = web_client.post(path, data=form)
    assert reply.status_code == 403 and "missing or wrong CSRF token: nothing was done" in reply.text
    assert not redis_client.sismember(keyspace.paused_queues(), QUEUE)
    assert len(session_keys(redis_client)) == 1  # still signed in
    assert not audit.list_entries(redis_client, action="queue.pause")


def test_another_sessions_csrf_token_is_refused(settings, redis_client, web_tokens):
    app = create_app(settings, redis_client)
    with TestClient(app, follow_redirects=False) as mine, TestClient(app, follow_redirects=False) as theirs:
        sign_in(mine, web_tokens["operator"])
        their_csrf = sign_in(theirs, web_tokens["operator"])
        reply = mine.post(f"/admin/jobs/queues/{QUEUE}/pause", data={"csrf": their_csrf})
    assert reply.status_code == 403 and not redis_client.sismember(keyspace.paused_queues(), QUEUE)


def test_sign_out_ends_the_session_on_the_server(web_client, web_tokens, redis_client):
    csrf = sign_in(web_client, web_tokens["viewer"])
    cookie = web_client.cookies["jobctl_session"]
    reply = web_client.post("/admin/jobs/logout", data={"csrf": csrf})
    assert reply.status_code == 303 and reply.headers["location"] == "/admin/jobs/login"
    assert "jobctl_session=" in reply.headers["set-cookie"] and not session_keys(redis_client)
    # the old cookie, kept by someone, opens nothing
    web_client.cookies.set("jobctl_session", cookie)
    reply = web_client.get("/admin/jobs")
    assert reply.status_code == 303


def test_revoking_the_token_ends_its_sessions_even_if_the_name_is_reused(
    web_client, web_tokens, redis_client, settings
):
    sign_in(web_client, web_tokens["operator"])
    tokens.revoke_token(redis_client, settings, "operator-web")
    assert web_client.get("/admin/jobs").headers["location"] == "/admin/jobs/login?expired=1"
    time.sleep(1.1)  # created_at is kept to the second: a new token a second later differs
    tokens.create_token(redis_client, settings, "operator-web", "admin")
    assert web_client.get("/admin/jobs").status_code == 303


def test_an_unknown_queue_is_refused_with_a_page_not_a_traceback(web_client, web_tokens):
    csrf = sign_in(web_client, web_tokens["operator"])
    reply = web_client.post("/admin/jobs/queues/no-such-queue/pause", data={"csrf": csrf})
    assert reply.status_code in (400, 404) and "no-such-queue" in reply.text and "Traceback" not in reply.text
    assert reply.headers["content-type"].startswith("text/html")


def test_on_loopback_without_tokens_anyone_may_look_but_not_act(settings, redis_client):
    """As the API: a server bound to loopback while no token exists reads as viewer "anonymous"."""
    with TestClient(create_app(settings, redis_client, loopback=True), follow_redirects=False) as client:
        page = client.get("/admin/jobs")
        assert page.status_code == 200 and "anonymous · viewer" in page.text
        assert 'data-action="pause"' not in page.text and 'id="sign-out"' not in page.text
        assert "anyone may look" in client.get("/admin/jobs/login").text
        reply = client.post(f"/admin/jobs/queues/{QUEUE}/pause", data={"csrf": ""})
        assert reply.status_code == 403 and not redis_client.sismember(keyspace.paused_queues(), QUEUE)
        tokens.create_token(redis_client, settings, "first", "admin")  # from now on: sign in
        assert client.get("/admin/jobs").status_code == 303


def test_not_on_loopback_no_token_means_sign_in(web_client):
    assert web_client.get("/admin/jobs").status_code == 303


ELSEWHERE = re.compile(r"(src|href|action)=\"(https?:)?//|url\(|@import|https?://")


def test_pages_load_nothing_from_elsewhere(web_client, web_tokens):
    login = web_client.get("/admin/jobs/login")  # (signed in, it leads to the overview)
    assert login.status_code == 200 and not ELSEWHERE.search(login.text)
    sign_in(web_client, web_tokens["operator"])
    for path in ("/admin/jobs", "/admin/jobs/static/dash.css", "/admin/jobs/static/dash.js"):
        reply = web_client.get(path)
        assert reply.status_code == 200, path
        assert not ELSEWHERE.search(reply.text), path
    page = web_client.get("/admin/jobs")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_the_pages_stay_out_of_the_api_schema(web_client):
    paths = web_client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/admin") or p == "/"]


def test_parallel_wrong_tokens_wait_in_turn(web_server, settings, web_tokens):
    """Failed sign-ins are serialized per server: sending guesses at once gains nothing."""
    base = web_server(settings)
    guesses = 4

    def guess(_: int) -> int:
        return httpx.post(f"{base}/admin/jobs/login", data={"token": "jct_" + "B" * 43}).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(guesses) as pool:
        assert list(pool.map(guess, range(guesses))) == [401] * guesses
    assert time.monotonic() - started >= guesses * pages.FAILED_SIGN_IN_DELAY
