"""The queue page and the job page in a real headless chromium against a real server: from the overview
to a queue's failed jobs to one job, retried; a search by recipient; a clear confirmed by typing the
queue's name; what a viewer sees; phone width. Every page state is saved as a screenshot under the
test's tmp_path (docs/web-queue.png and docs/web-job.png are two of them)."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from jobctl.core import audit
from jobctl.core.bulk import enqueue, enqueue_many
from tests.tui.dash_helpers import dead_jobs, failed_jobs, totals, with_failures
from tests.web.test_browser import WAIT, click, full_page_shot, shot, sign_in, text_of

QUEUE = "email-sending"
FAILING = "payment-retry"
WELCOME = {"name": "Ann", "login_url": "https://shop.example/login"}


def email(conn, settings, to: str) -> str:
    return enqueue(conn, settings, "email", {"to": to, "template": "welcome", "data": WELCOME}, queue=QUEUE)


def listed(browser) -> list[str]:
    return [
        row.get_attribute("data-job") for row in browser.find_elements(By.CSS_SELECTOR, "#jobs tr[data-job]")
    ]


def fits_a_phone(browser, tmp_path, name: str) -> bool:
    """No page-level horizontal scroll at 390 px (tables and code scroll in their own box); the
    page at that width saved as `name`."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        browser.refresh()
        assert browser.execute_script("return window.innerWidth;") == 390
        shot(browser, tmp_path, name)
        return browser.execute_script("return document.scrollingElement.scrollWidth <= window.innerWidth;")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_from_the_overview_to_a_failed_job_and_retry_it(
    browser, web_server, web_tokens, redis_client, tmp_path
):
    settings = with_failures(tmp_path, FAILING)
    failed = failed_jobs(redis_client, settings, FAILING, ["pay-1001", "pay-1002", "pay-1003"])
    enqueue_many(redis_client, settings, "noop", [{}] * 2, queue=FAILING)
    base = web_server(settings)
    sign_in(browser, base, web_tokens["operator"])

    click(browser, f'a[data-queue-link="{FAILING}"]')
    WebDriverWait(browser, WAIT).until(lambda b: b.current_url == f"{base}/admin/jobs/queues/{FAILING}")
    assert text_of(browser, '[data-count="failed"]') == "3" and len(listed(browser)) == 2  # waiting first
    click(browser, 'a[data-tab="failed"]')
    WebDriverWait(browser, WAIT).until(lambda b: sorted(listed(b)) == sorted(failed))
    assert "ended (UTC)" in text_of(browser, "#jobs thead")
    full_page_shot(browser, tmp_path, "1-queue-failed")
    assert fits_a_phone(browser, tmp_path, "2-queue-phone")

    click(browser, 'tr[data-job="pay-1002"] a')
    WebDriverWait(browser, WAIT).until(lambda b: b.current_url == f"{base}/admin/jobs/job/pay-1002")
    assert text_of(browser, "#status") == "failed"
    assert "boom 1" in text_of(browser, "#error-text")  # the traceback, and the payload's message
    full_page_shot(browser, tmp_path, "3-job-failed")
    click(browser, 'button[data-action="retry"]')
    WebDriverWait(browser, WAIT).until(lambda b: b.find_elements(By.ID, "done"))
    assert text_of(browser, "#done") == "Retried: the job is back in its queue."
    assert text_of(browser, "#status") == "queued"
    [entry] = audit.list_entries(redis_client, action="job.retry")
    assert (entry["actor"], entry["face"], entry["target"]) == ("operator-web", "web", "pay-1002")
    shot(browser, tmp_path, "4-job-retried")

    click(browser, "#queue-link")
    click(browser, 'a[data-tab="failed"]')
    WebDriverWait(browser, WAIT).until(lambda b: sorted(listed(b)) == ["pay-1001", "pay-1003"])  # it left
    assert (
        text_of(browser, '[data-count="failed"]') == "2" and text_of(browser, '[data-count="waiting"]') == "3"
    )
    shot(browser, tmp_path, "5-failed-after-retry")


def test_a_dead_lettered_jobs_page_and_the_phone(
    browser, web_server, settings, web_tokens, redis_client, tmp_path
):
    [job_id] = dead_jobs(redis_client, settings, ["pay-2001"], queue=FAILING)
    base = web_server(settings)
    sign_in(browser, base, web_tokens["admin"])
    browser.get(f"{base}/admin/jobs/job/{job_id}")
    assert text_of(browser, "#dead-letter-link") == "See its dead-letter entry"
    link = browser.find_element(By.ID, "dead-letter-link").get_attribute("href")
    assert link == f"{base}/admin/jobs/dead-letters/{job_id}"
    rows = browser.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")
    assert len(rows) == 1 and "failed" in rows[0].text and "boom 0" in rows[0].text
    assert text_of(browser, "#attempts").startswith("attempt 1 of")
    full_page_shot(browser, tmp_path, "job")  # docs/web-job.png
    assert fits_a_phone(browser, tmp_path, "job-phone")


def test_search_by_recipient_finds_an_email_job(
    browser, web_server, settings, web_tokens, redis_client, tmp_path
):
    ann = email(redis_client, settings, "ann.lee@example.com")
    for n in range(4):
        email(redis_client, settings, f"customer{n}@example.org")
    enqueue_many(redis_client, settings, "noop", [{}] * 3, queue=QUEUE)
    base = web_server(settings)
    sign_in(browser, base, web_tokens["admin"])  # the admin's page: pause and clear shown
    browser.get(f"{base}/admin/jobs/queues/{QUEUE}")
    full_page_shot(browser, tmp_path, "1-queue")

    browser.find_element(By.ID, "q").send_keys("ann.lee@example.com")
    click(browser, "#search")
    WebDriverWait(browser, WAIT).until(lambda b: b.find_elements(By.ID, "search-note"))
    found = [
        r.get_attribute("data-job") for r in browser.find_elements(By.CSS_SELECTOR, "#found tr[data-job]")
    ]
    assert found == [ann]
    note = browser.find_element(By.ID, "search-note")
    assert (note.get_attribute("data-complete"), note.get_attribute("data-scanned")) == ("yes", "8")
    assert "complete: scanned all 8 jobs" in note.text
    assert "ann.lee@example.com" not in text_of(browser, "#found")  # rows show no job content
    full_page_shot(browser, tmp_path, "2-found")  # docs/web-queue.png


def test_clear_needs_the_queues_name_typed(browser, web_server, settings, web_tokens, redis_client, tmp_path):
    enqueue_many(redis_client, settings, "noop", [{}] * 4, queue=QUEUE)
    base = web_server(settings)
    sign_in(browser, base, web_tokens["admin"])
    browser.get(f"{base}/admin/jobs/queues/{QUEUE}")
    click(browser, "#clear")
    WebDriverWait(browser, WAIT).until(lambda b: b.find_elements(By.ID, "dry-run-total"))
    assert text_of(browser, "#dry-run-total") == "4"  # the dry run's count
    shot(browser, tmp_path, "1-confirm")

    browser.find_element(By.ID, "confirm").send_keys("email")
    click(browser, "#confirm-clear")
    WebDriverWait(browser, WAIT).until(lambda b: b.find_elements(By.ID, "confirm-error"))
    assert "Nothing was cleared" in text_of(browser, "#confirm-error")
    assert totals(redis_client, settings, QUEUE)["waiting"] == 4
    assert not audit.list_entries(redis_client, action="queue.clear")
    shot(browser, tmp_path, "2-wrong-name")

    browser.find_element(By.ID, "confirm").send_keys(QUEUE)
    click(browser, "#confirm-clear")
    WebDriverWait(browser, WAIT).until(lambda b: b.find_elements(By.ID, "cleared-total"))
    assert text_of(browser, "#cleared-total") == "4"
    assert totals(redis_client, settings, QUEUE)["waiting"] == 0
    [entry] = audit.list_entries(redis_client, action="queue.clear")
    assert (entry["actor"], entry["face"], entry["target"], entry["count"]) == ("admin-web", "web", QUEUE, 4)
    shot(browser, tmp_path, "3-cleared")


def test_a_viewer_sees_no_action_buttons(browser, web_server, web_tokens, redis_client, tmp_path):
    settings = with_failures(tmp_path, FAILING)
    [job_id] = failed_jobs(redis_client, settings, FAILING, ["pay-3001"])
    base = web_server(settings)
    sign_in(browser, base, web_tokens["viewer"])
    browser.get(f"{base}/admin/jobs/queues/{FAILING}?state=failed")
    assert listed(browser) == [job_id]
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-action], #clear")
    shot(browser, tmp_path, "queue-viewer")
    browser.get(f"{base}/admin/jobs/job/{job_id}")
    assert text_of(browser, "#status") == "failed"
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-action], .actions")
    shot(browser, tmp_path, "job-viewer")
