"""The dead-letter pages in a real headless chromium against a real server: replaying a group from the
page after its preview, purging one entry as admin, what a viewer sees and may do, filtering by error
text, and phone width. Every page state is saved as a screenshot under the test's tmp_path."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from jobctl.core import audit, dlq
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from tests.web.conftest import run_burst

PAY = "payment-retry"
MAIL = "email-sending"
WAIT = 15  # seconds a page gets to show what is expected; bounds a failure only


def shot(browser, tmp_path: Path, name: str) -> Path:
    """The whole page, the viewport made as tall as the document for the shot."""
    height = browser.execute_script("return document.documentElement.scrollHeight;")
    width = browser.execute_script("return window.innerWidth;")
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500},
    )
    try:
        path = tmp_path / f"{name}.png"
        browser.save_screenshot(str(path))
        return path
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def find(browser, css: str):
    """The element once the page shows it (a deadline bounds a failure, it times nothing)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return browser.find_element(By.CSS_SELECTOR, css)
        except (StaleElementReferenceException, NoSuchElementException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def click_to(browser, css: str, url_part: str) -> None:
    """Click and wait for the page it leads to."""
    find(browser, css).click()
    WebDriverWait(browser, WAIT).until(lambda b: url_part in b.current_url)


def sign_in(browser, base: str, token: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{base}/admin/jobs/login")
    find(browser, "#token").send_keys(token)
    find(browser, "#sign-in").click()
    WebDriverWait(browser, WAIT).until(lambda b: b.current_url == f"{base}/admin/jobs")


def dead(redis_client, settings, queue: str, messages: list[str], prefix: str) -> list[str]:
    """`fail` jobs that die on their first attempt (a permanent failure) under jobctl's worker."""
    ids = [f"{prefix}{n}" for n in range(len(messages))]
    enqueue_many(redis_client, settings, "fail", [{"message": m} for m in messages], queue=queue, job_ids=ids)
    run_burst(redis_client, settings, queue)
    return ids


@pytest.fixture
def letters(redis_client, settings) -> None:
    dead(redis_client, settings, PAY, [f"card declined for order {n}" for n in (7001, 7002, 7003)], "card-")
    dead(redis_client, settings, MAIL, ["smtp 550 mailbox unavailable for mail 17"] * 2, "smtp-")
    dead(
        redis_client,
        settings,
        MAIL,
        ["connection to smtp.example.net:25 timed out after 30s"],
        "timeout-",
    )


def waiting_ids(redis_client, settings, queue: str) -> set[str]:
    return {
        job_id
        for physical in queue_catalog(settings)[queue].physical_names
        for job_id in rq_queue(redis_client, physical).job_ids
    }


def rows(browser) -> list[str]:
    return [r.get_attribute("data-job") for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-job]")]


def test_replaying_a_dead_letter_group_from_the_page_with_confirmation(
    browser, web_server, settings, web_tokens, redis_client, letters, tmp_path
):
    base = web_server(settings)
    sign_in(browser, base, web_tokens["operator"])
    click_to(browser, "a#dead-letters", "/admin/jobs/dead-letters")  # the overview's figure leads here
    [group] = [g for g in dlq.groups(redis_client, settings)["groups"] if PAY in g["queues"]]
    gid = group["fingerprint_id"]
    card = find(browser, f"#group-{gid}")
    assert card.find_element(By.CSS_SELECTOR, ".dlq-count").text == "3"
    assert "card declined for order 7003" in card.find_element(By.CSS_SELECTOR, "[data-sample]").text
    assert not browser.find_elements(By.CSS_SELECTOR, 'a[data-action="purge"]')  # an operator may not purge
    shot(browser, tmp_path, "1-groups")

    click_to(browser, f'a[data-open-group="{gid}"]', f"fingerprint={gid}")
    assert rows(browser) == ["card-2", "card-1", "card-0"]
    shot(browser, tmp_path, "2-group-entries")

    click_to(browser, 'a[data-action="replay"]', "/dead-letters/list/replay")
    assert find(browser, "#preview-count").text == "3"
    assert find(browser, '#by-queue tr[data-queue="payment-retry"]').text.split() == [PAY, "3"]
    assert dlq.list_entries(redis_client, settings)["total"] == 6  # the preview changed nothing
    shot(browser, tmp_path, "3-replay-preview")

    find(browser, "#confirm").click()
    WebDriverWait(browser, WAIT).until(lambda b: b.find_elements(By.ID, "done"))
    assert find(browser, "#done").text == "Replayed 3 dead letter(s)"
    shot(browser, tmp_path, "4-replayed")
    assert waiting_ids(redis_client, settings, PAY) == {"card-0", "card-1", "card-2"}  # back on its queue
    assert dlq.list_entries(redis_client, settings)["total"] == 3  # the two other groups stay
    [entry] = audit.list_entries(redis_client, action="dlq.replay")
    assert (entry["actor"], entry["face"], entry["outcome"]) == ("operator-web", "web", "ok")
    assert entry["filters"]["fingerprint"] == gid

    browser.get(f"{base}/admin/jobs/dead-letters/card-1")
    assert find(browser, "#entry-state").text == "replayed"
    assert "operator-web (web)" in find(browser, "#replays").text


def test_an_admin_purges_one_entry_from_its_page(
    browser, web_server, settings, web_tokens, redis_client, letters, tmp_path
):
    base = web_server(settings)
    sign_in(browser, base, web_tokens["admin"])
    browser.get(f"{base}/admin/jobs/dead-letters/list")
    click_to(browser, 'tr[data-job="timeout-0"] a', "/dead-letters/timeout-0")
    assert "Traceback (most recent call last)" in find(browser, "#traceback").text
    assert "timed out after 30s" in find(browser, "#entry-error").text
    assert find(browser, "#attempts tbody tr").text.split()[:2] == ["1", "failed"]
    shot(browser, tmp_path, "1-entry")

    click_to(browser, 'a[data-action="purge"]', "/dead-letters/timeout-0/purge")
    assert find(browser, "#preview-count").text == "1"
    shot(browser, tmp_path, "2-purge-preview")
    find(browser, "#confirm").click()
    WebDriverWait(browser, WAIT).until(lambda b: b.find_elements(By.ID, "done"))
    assert find(browser, "#done").text == "Purged timeout-0."
    assert "timeout-0" not in rows(browser) and len(rows(browser)) == 5
    shot(browser, tmp_path, "3-purged")
    [entry] = audit.list_entries(redis_client, action="dlq.purge")
    assert (entry["actor"], entry["face"], entry["target"]) == ("admin-web", "web", "timeout-0")


def test_a_viewer_sees_no_replay_or_purge_and_a_forged_post_is_refused(
    browser, web_server, settings, web_tokens, redis_client, letters, tmp_path
):
    base = web_server(settings)
    sign_in(browser, base, web_tokens["viewer"])
    for path in ("", "/list", "/card-0"):
        browser.get(f"{base}/admin/jobs/dead-letters{path}")
        find(browser, "h1")
        assert not browser.find_elements(By.CSS_SELECTOR, "[data-action]"), path
    shot(browser, tmp_path, "viewer-entry")

    cookies = {"jobctl_session": browser.get_cookie("jobctl_session")["value"]}
    csrf = find(browser, 'input[name="csrf"]').get_attribute("value")  # the viewer's valid token
    for path in ("/list/replay", "/card-0/replay"):
        reply = httpx.post(
            f"{base}/admin/jobs/dead-letters{path}",
            data={"csrf": csrf, "queue": PAY},
            cookies=cookies,
            follow_redirects=False,
        )
        assert reply.status_code == 403 and "this needs the operator role" in reply.text, path
    assert dlq.list_entries(redis_client, settings)["total"] == 6
    assert not waiting_ids(redis_client, settings, PAY)
    assert not audit.list_entries(redis_client, action="dlq.replay")


def test_filtering_the_list_by_error_text_and_at_phone_width(
    browser, web_server, settings, web_tokens, redis_client, letters, tmp_path
):
    base = web_server(settings)
    sign_in(browser, base, web_tokens["operator"])
    browser.get(f"{base}/admin/jobs/dead-letters/list")
    assert len(rows(browser)) == 6
    find(browser, "#filter-error-text").send_keys("mailbox unavailable")
    click_to(browser, "#apply-filters", "error=mailbox+unavailable")
    assert rows(browser) == ["smtp-1", "smtp-0"]
    assert find(browser, "#filter-error-text").get_attribute("value") == "mailbox unavailable"
    shot(browser, tmp_path, "1-filtered")
    click_to(browser, 'a[data-action="replay"]', "/dead-letters/list/replay")
    assert find(browser, "#preview-count").text == "2"  # the preview is of this filter, not the whole queue
    find(browser, "#cancel").click()
    WebDriverWait(browser, WAIT).until(lambda b: b.current_url.endswith("error=mailbox+unavailable"))

    fits = "return document.scrollingElement.scrollWidth <= window.innerWidth;"
    try:
        for path, name in (("", "phone-groups"), ("/list", "phone-list"), ("/card-0", "phone-entry")):
            browser.execute_cdp_cmd(  # again for each page: a shot ends with the override cleared
                "Emulation.setDeviceMetricsOverride",
                {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
            )
            browser.get(f"{base}/admin/jobs/dead-letters{path}")
            find(browser, "h1")
            assert browser.execute_script("return window.innerWidth;") == 390
            assert browser.execute_script(fits), path
            shot(browser, tmp_path, name)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.fixture(autouse=True)
def _fresh_browser_state(request):
    """Each test starts signed out (one browser serves the module)."""
    if "browser" in request.fixturenames:
        request.getfixturevalue("browser").delete_all_cookies()
