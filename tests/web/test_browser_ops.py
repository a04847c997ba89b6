"""The schedules, alerts and audit pages in a real headless chromium against a real server: pausing,
resuming and running a schedule now (its job appears), a viewer seeing no schedule action, a fired
alert in the history, the audit log filtered by face web; each page at phone width too. Screenshots
are saved under the test's tmp_path."""

from __future__ import annotations

import json
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from jobctl.core import alert_rules, keyspace, schedules
from jobctl.core.bulk import enqueue_many
from tests.web.test_browser import WAIT, click, full_page_shot, shot, sign_in, text_of

NAME = "nightly-noop"
PHONE = 390


def stored(redis_client) -> dict:
    return json.loads(redis_client.hget(keyspace.schedules(), NAME))


def no_page_scroll_at_phone_width(browser, tmp_path, name: str) -> None:
    """At 390 px the page itself never scrolls sideways (tables scroll in their own box)."""
    browser.set_window_size(PHONE, 844)
    try:
        browser.refresh()
        wide = browser.execute_script("return document.documentElement.scrollWidth;")
        inner = browser.execute_script("return document.documentElement.clientWidth;")
        shot(browser, tmp_path, f"{name}-phone")
        assert wide <= inner, (wide, inner)
    finally:
        browser.set_window_size(1280, 1000)


def test_an_operator_pauses_resumes_and_runs_a_schedule_now(
    browser, web_server, settings, web_tokens, redis_client, tmp_path
):
    schedules.add_schedule(redis_client, settings, NAME, "0 3 * * *", tz="Europe/Paris", job_type="noop")
    base = web_server(settings)
    sign_in(browser, base, web_tokens["operator"])
    click(browser, "#nav-schedules")
    WebDriverWait(browser, WAIT).until(lambda b: b.current_url == f"{base}/admin/jobs/schedules")
    click(browser, f'button[data-action="pause"][data-schedule="{NAME}"]')
    WebDriverWait(browser, WAIT).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, f'[data-paused-schedule="{NAME}"]')
    )
    assert stored(redis_client)["paused"] is True
    shot(browser, tmp_path, "1-paused")

    click(browser, f'button[data-action="resume"][data-schedule="{NAME}"]')
    WebDriverWait(browser, WAIT).until(
        lambda b: not b.find_elements(By.CSS_SELECTOR, f'[data-paused-schedule="{NAME}"]')
    )
    assert stored(redis_client)["paused"] is False

    click(browser, f'button[data-action="run"][data-schedule="{NAME}"]')
    notice = text_of(browser, "#ran")
    job_id = stored(redis_client)["last_job_id"]
    assert notice == f"Ran {NAME} now: job {job_id} queued."
    assert redis_client.exists(keyspace.job_key_prefix() + job_id)  # the job is there, waiting
    assert text_of(browser, f"#schedule-{NAME} a.last-job") == "queued"
    full_page_shot(browser, tmp_path, "2-ran")
    no_page_scroll_at_phone_width(browser, tmp_path, "schedules")


def test_a_viewer_sees_no_schedule_action(browser, web_server, settings, web_tokens, redis_client, tmp_path):
    schedules.add_schedule(redis_client, settings, NAME, "0 3 * * *", job_type="noop")
    base = web_server(settings)
    sign_in(browser, base, web_tokens["viewer"])
    browser.get(f"{base}/admin/jobs/schedules")
    assert NAME in text_of(browser, f"#schedule-{NAME}")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-action]")
    assert not browser.find_elements(By.CSS_SELECTOR, "#nav-audit")  # the audit log is for operators
    shot(browser, tmp_path, "viewer-schedules")


def test_the_alerts_page_shows_a_fired_alert_in_the_history(
    browser, web_server, configure, web_tokens, redis_client, tmp_path
):
    settings = configure(JOBCTL_ALERT_COOLDOWN="0")
    enqueue_many(redis_client, settings, "noop", [{}] * 2, queue="payment-retry")  # and no worker
    alert_rules.evaluate(redis_client, settings)
    alert_rules.record_evaluation(
        redis_client, settings, by="test", role="monitor", interval=60, now=time.time()
    )
    base = web_server(settings)
    sign_in(browser, base, web_tokens["viewer"])
    click(browser, "#nav-alerts")
    row = 'tr[data-event="firing"][data-rule="no_worker"][data-subject="payment-retry"]'
    assert "payment-retry has 2 waiting jobs and no live worker" in text_of(browser, row)
    assert text_of(browser, 'tbody[data-rule="no_worker"] .state-firing') == "firing"
    full_page_shot(browser, tmp_path, "alerts")
    no_page_scroll_at_phone_width(browser, tmp_path, "alerts")


def test_the_audit_page_filters_by_face_web(
    browser, web_server, settings, web_tokens, redis_client, tmp_path
):
    schedules.add_schedule(redis_client, settings, NAME, "0 3 * * *", job_type="noop")  # face api (Python)
    base = web_server(settings)
    sign_in(browser, base, web_tokens["operator"])
    browser.get(f"{base}/admin/jobs/schedules")
    click(browser, f'button[data-action="pause"][data-schedule="{NAME}"]')  # face web
    WebDriverWait(browser, WAIT).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, f'[data-paused-schedule="{NAME}"]')
    )
    click(browser, "#nav-audit")
    faces = lambda b: {e.text for e in b.find_elements(By.CSS_SELECTOR, "#audit td:nth-child(3)")}  # noqa: E731
    WebDriverWait(browser, WAIT).until(lambda b: {"web", "api"} <= faces(b))
    Select(browser.find_element(By.CSS_SELECTOR, "#face")).select_by_value("web")
    click(browser, "#filter")
    WebDriverWait(browser, WAIT).until(lambda b: "face=web" in b.current_url)
    assert faces(browser) == {"web"}
    assert text_of(browser, '#audit tr[data-face="web"]').split()[2:5] == [
        "operator-web",
        "web",
        "schedule.pause",
    ]
    full_page_shot(browser, tmp_path, "audit-web")
    no_page_scroll_at_phone_width(browser, tmp_path, "audit")
