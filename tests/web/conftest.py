"""The web dashboard: the app in process (Starlette's TestClient) for its rules, and a real server
(uvicorn in a thread, on a free loopback port, this test's Redis prefix) driven by Debian's headless
chromium through its chromedriver, one browser per test module. Without chromium (see
scripts/browser_local.py, run by `python3 dev.py test`) the browser tests skip, saying why."""

from __future__ import annotations

import importlib.util
import re
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from jobctl.core import tokens
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.worker import JobctlJob, JobctlWorker
from jobctl.http import create_app

ROOT = Path(__file__).resolve().parents[2]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def browser_local():
    if "browser_local" in sys.modules:
        return sys.modules["browser_local"]
    spec = importlib.util.spec_from_file_location("browser_local", ROOT / "scripts" / "browser_local.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["browser_local"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def web_tokens(redis_client, settings) -> dict[str, str]:
    """A token per role, named viewer-web, operator-web, admin-web."""
    return {
        role: tokens.create_token(redis_client, settings, f"{role}-web", role)["token"]
        for role in tokens.ROLES
    }


@pytest.fixture
def web_client(settings, redis_client):
    with TestClient(create_app(settings, redis_client), follow_redirects=False) as client:
        yield client


def run_burst(conn, settings, queue: str) -> None:
    """Run `queue`'s jobs in this process with jobctl's worker until none is left."""
    JobctlWorker(
        [rq_queue(conn, q) for q in queue_catalog(settings)[queue].physical_names],
        connection=conn,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)


def csrf_of(html: str) -> str:
    return CSRF.search(html).group(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def web_server(redis_client):
    """start(settings) -> the base URL of a real server for the app over `settings`; stopped after."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(settings) -> str:
        port = _free_port()
        app = create_app(settings, redis_client)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 20  # bounds a broken start; not a timing assertion
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the web server did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless chromium at 1280x1000, driven through /usr/bin/chromedriver (no Selenium Manager)."""
    reason = browser_local().unavailable_reason()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver  # lazy: only the browser tests need selenium
    from selenium.webdriver.chrome.service import Service  # lazy: as above

    local = browser_local()
    options = webdriver.ChromeOptions()
    options.binary_location = str(local.CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",  # the tests may run as root, where chromium's sandbox refuses to start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(arg)
    # with the driver's path given, Selenium never runs Selenium Manager (which would download a driver
    # and a browser): selenium/webdriver/common/driver_finder.py returns the given paths as they are
    service = Service(executable_path=str(local.CHROMEDRIVER))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
