"""The dashboard in a real headless chromium against a real server: sign-in and sign-out, the overview
updating without a reload, pausing a queue, what a viewer sees and may do, CSRF, the session ending,
phone width. Every page state is saved as a screenshot under the test's tmp_path."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from jobctl.config import load_settings
from jobctl.core import audit, keyspace
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from tests.rq_plain import PlainWorker
from tests.web.conftest import run_burst

QUEUE = "email-sending"
WAIT = 15  # seconds a page gets to show what is expected (polling is every 2 s); bounds a failure only


def shot(browser, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    browser.save_screenshot(str(path))
    return path


def _retrying(browser, css: str, use):
    """`use(element)` on the element found afresh: the live part is replaced under the test every 2 s,
    and a form's answer may still be loading (a deadline bounds a failure, it times nothing)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return use(browser.find_element(By.CSS_SELECTOR, css))
        except (StaleElementReferenceException, NoSuchElementException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def full_page_shot(browser, tmp_path: Path, name: str) -> Path:
    """The whole page, not only the window: the viewport made as tall as the document for the shot."""
    height = browser.execute_script("return document.documentElement.scrollHeight;")
    width = browser.execute_script("return window.innerWidth;")
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        return shot(browser, tmp_path, name)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def text_of(browser, css: str) -> str:
    return _retrying(browser, css, lambda element: element.text)


def click(browser, css: str) -> None:
    _retrying(browser, css, lambda element: element.click())


def cell(queue: str, state: str) -> str:
    return f'td[data-queue="{queue}"][data-state="{state}"]'


def sign_in(browser, base: str, token: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{base}/admin/jobs/login")
    _retrying(browser, "#token", lambda field: field.send_keys(token))
    click(browser, "#sign-in")
    WebDriverWait(browser, WAIT).until(lambda b: b.current_url == f"{base}/admin/jobs")


def session_keys(redis_client) -> list[bytes]:
    return list(redis_client.scan_iter(match=keyspace.web_session("*"), count=1000))


def test_sign_in_and_sign_out(browser, web_server, settings, web_tokens, redis_client, tmp_path):
    base = web_server(settings)
    browser.delete_all_cookies()
    browser.get(f"{base}/admin/jobs")
    assert browser.current_url == f"{base}/admin/jobs/login"  # not signed in: sent to sign in
    shot(browser, tmp_path, "1-sign-in")

    _retrying(browser, "#token", lambda field: field.send_keys("jct_" + "x" * 43))
    click(browser, "#sign-in")
    assert text_of(browser, "#login-error") == "That token is not valid (mistyped, or revoked)."
    assert "Traceback" not in browser.page_source and not session_keys(redis_client)
    shot(browser, tmp_path, "2-wrong-token")

    sign_in(browser, base, web_tokens["operator"])
    assert text_of(browser, "#who") == "operator-web · operator"
    assert len(session_keys(redis_client)) == 1
    shot(browser, tmp_path, "3-signed-in")

    click(browser, "#sign-out")
    WebDriverWait(browser, WAIT).until(lambda b: b.current_url == f"{base}/admin/jobs/login")
    assert not session_keys(redis_client)  # the session is gone on the server, not only the cookie
    browser.get(f"{base}/admin/jobs")
    assert browser.current_url == f"{base}/admin/jobs/login"
    shot(browser, tmp_path, "4-signed-out")


def test_the_overview_updates_without_a_reload_when_a_job_completes(
    browser, web_server, settings, web_tokens, redis_client, tmp_path
):
    base = web_server(settings)
    enqueue_many(redis_client, settings, "noop", [{}], queue=QUEUE)
    sign_in(browser, base, web_tokens["viewer"])
    assert (text_of(browser, cell(QUEUE, "waiting")), text_of(browser, cell(QUEUE, "completed"))) == (
        "1",
        "0",
    )
    browser.execute_script("window.notReloaded = true;")
    shot(browser, tmp_path, "1-waiting")

    run_burst(redis_client, settings, QUEUE)
    WebDriverWait(browser, WAIT).until(lambda b: text_of(b, cell(QUEUE, "completed")) == "1")
    assert text_of(browser, cell(QUEUE, "waiting")) == "0"
    assert browser.execute_script("return window.notReloaded === true;")  # the same page, updated in place
    assert "updated" in text_of(browser, "#live-status")
    assert not browser.find_element(By.CSS_SELECTOR, f"#queue-{QUEUE} tr.prio").is_displayed()
    click(browser, 'label[for="show-prio"]')  # per priority: a sub-row per priority, kept across updates
    rows = browser.find_elements(By.CSS_SELECTOR, f"#queue-{QUEUE} tr.prio")
    assert [r.text.split()[1] for r in rows if r.is_displayed()] == ["high", "normal", "low"]
    shot(browser, tmp_path, "2-completed")


def test_an_operator_pauses_and_resumes_a_queue_from_the_page(
    browser, web_server, settings, web_tokens, redis_client, tmp_path
):
    base = web_server(settings)
    sign_in(browser, base, web_tokens["operator"])
    click(browser, f'button[data-action="pause"][data-queue="{QUEUE}"]')
    WebDriverWait(browser, WAIT).until(lambda b: b.find_elements(By.CSS_SELECTOR, f'[data-paused="{QUEUE}"]'))
    assert redis_client.sismember(keyspace.paused_queues(), QUEUE)
    [entry] = audit.list_entries(redis_client, action="queue.pause")
    assert (entry["actor"], entry["face"], entry["target"]) == ("operator-web", "web", QUEUE)
    shot(browser, tmp_path, "1-paused")

    click(browser, f'button[data-action="resume"][data-queue="{QUEUE}"]')
    WebDriverWait(browser, WAIT).until(
        lambda b: not b.find_elements(By.CSS_SELECTOR, f'[data-paused="{QUEUE}"]')
    )
    assert not redis_client.sismember(keyspace.paused_queues(), QUEUE)
    [entry] = audit.list_entries(redis_client, action="queue.resume")
    assert (entry["actor"], entry["face"]) == ("operator-web", "web")
    shot(browser, tmp_path, "2-resumed")


def _cookie_and_csrf(browser) -> tuple[dict[str, str], str]:
    cookie = browser.get_cookie("jobctl_session")
    csrf = browser.find_element(By.CSS_SELECTOR, 'input[name="csrf"]').get_attribute("value")
    return {"jobctl_session": cookie["value"]}, csrf


def test_a_viewer_sees_no_pause_button_and_a_forged_post_is_refused(
    browser, web_server, settings, web_tokens, redis_client, tmp_path
):
    base = web_server(settings)
    sign_in(browser, base, web_tokens["viewer"])
    assert text_of(browser, cell(QUEUE, "waiting")) == "0"
    assert not browser.find_elements(By.CSS_SELECTOR, "button[data-action]")  # no action shown to a viewer
    shot(browser, tmp_path, "viewer")

    cookies, csrf = _cookie_and_csrf(browser)  # the viewer's own session and a valid CSRF token
    reply = httpx.post(
        f"{base}/admin/jobs/queues/{QUEUE}/pause",
        data={"csrf": csrf},
        cookies=cookies,
        follow_redirects=False,
    )
    assert reply.status_code == 403 and "this needs the operator role" in reply.text
    assert not redis_client.sismember(keyspace.paused_queues(), QUEUE)
    assert not audit.list_entries(redis_client, action="queue.pause")


def test_a_missing_or_wrong_csrf_token_is_refused(
    browser, web_server, settings, web_tokens, redis_client, tmp_path
):
    base = web_server(settings)
    sign_in(browser, base, web_tokens["operator"])
    cookies, csrf = _cookie_and_csrf(browser)
    url = f"{base}/admin/jobs/queues/{QUEUE}/pause"
    for data in ({}, {"csrf": "not-the-token"}, {"csrf": csrf[:-1]}):
        reply = httpx.post(url, data=data, cookies=cookies, follow_redirects=False)
        assert reply.status_code == 403 and "CSRF" in reply.text, data

    # and from the page itself: the form's token altered before it is sent
    # (in one script: the live part, forms included, may be replaced between two steps of the test)
    browser.execute_script(
        "var button = document.querySelector(arguments[0]);"
        "button.form.elements.csrf.value = 'forged'; button.form.requestSubmit(button);",
        f'button[data-action="pause"][data-queue="{QUEUE}"]',
    )
    WebDriverWait(browser, WAIT).until(lambda b: b.find_elements(By.ID, "error"))
    assert "missing or wrong CSRF token: nothing was done" in text_of(browser, "#error")
    shot(browser, tmp_path, "csrf-refused")
    assert not redis_client.sismember(keyspace.paused_queues(), QUEUE)
    assert not audit.list_entries(redis_client, action="queue.pause")


def test_an_ended_session_sends_the_browser_back_to_sign_in(
    browser, web_server, web_tokens, redis_client, monkeypatch, tmp_path
):
    monkeypatch.setenv("JOBCTL_WEB_SESSION_TTL", "3")
    base = web_server(load_settings())
    sign_in(browser, base, web_tokens["viewer"])
    browser.execute_script("window.notReloaded = true;")
    shot(browser, tmp_path, "1-signed-in")
    # the page's own polling finds the session gone and goes to sign-in, nobody reloading it
    WebDriverWait(browser, WAIT).until(lambda b: b.current_url.startswith(f"{base}/admin/jobs/login"))
    assert text_of(browser, "#login-note") == "Your session has ended: sign in again."
    assert not session_keys(redis_client)
    shot(browser, tmp_path, "2-ended")


def _workload(redis_client, settings) -> None:
    enqueue_many(redis_client, settings, "noop", [{}] * 12, queue=QUEUE)
    enqueue_many(redis_client, settings, "fail", [{"message": "card declined"}] * 2, queue="payment-retry")
    run_burst(redis_client, settings, QUEUE)
    run_burst(redis_client, settings, "payment-retry")
    enqueue_many(redis_client, settings, "noop", [{}] * 5, queue=QUEUE)
    idle = PlainWorker(  # registered, not working: the workers table has a row
        [rq_queue(redis_client, q) for q in queue_catalog(settings)[QUEUE].physical_names],
        connection=redis_client,
        serializer=PayloadSerializer,
        name="web-test-worker",
    )
    idle.register_birth()


def test_the_overview_fits_a_phone(browser, web_server, settings, web_tokens, redis_client, tmp_path):
    _workload(redis_client, settings)
    base = web_server(settings)
    sign_in(browser, base, web_tokens["operator"])
    full_page_shot(browser, tmp_path, "desktop")  # docs/web-overview.png is one of these
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        browser.refresh()
        assert browser.execute_script("return window.innerWidth;") == 390
        fits = "return document.scrollingElement.scrollWidth <= window.innerWidth;"
        assert browser.execute_script(fits)
        assert text_of(browser, cell(QUEUE, "waiting")) == "5"
        assert text_of(browser, "#workers-alive") == "1/1"
        assert text_of(browser, "table.workers .health") == "ok"
        shot(browser, tmp_path, "phone")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.fixture(autouse=True)
def _fresh_browser_state(request):
    """Each test starts signed out (one browser serves the module)."""
    if "browser" in request.fixturenames:
        request.getfixturevalue("browser").delete_all_cookies()
