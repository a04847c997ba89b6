"""jobctl demo: all eight queues show work, and the demo touches nothing but its own things.

The demo runs in a key namespace of its own (jobctl-demo:<random>): a worker already running on the
same server, on the default namespace and configured to send mail over SMTP, must get none of its
jobs; the demo's keys are gone when it ends; its mail goes to an outbox and its data store is its own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis

from jobctl.core.catalog import DEAD_LETTER, DEFAULT_CATALOG
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

JOB_QUEUES = [name for name in DEFAULT_CATALOG if name != DEAD_LETTER]
CAMPAIGN = 20
EMAILS = 73 + CAMPAIGN  # the transactional ones, then the campaign


def run_demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobctl", "demo", "--campaign", str(CAMPAIGN), *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


def check_demo(result: subprocess.CompletedProcess) -> dict:
    """Every queue did work, everything completed, the dead letters were replayed; outputs are in place."""
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    queues = summary["queues"]
    assert set(queues) == {*JOB_QUEUES, DEAD_LETTER}
    for name in JOB_QUEUES:
        assert queues[name]["enqueued"] > 0 and queues[name]["completed"] == queues[name]["enqueued"], name
    assert queues[DEAD_LETTER] == {"dead_lettered": 3, "replayed": 3, "left": 0}
    assert queues["file-processing"]["dead"] == 3  # the cut-short uploads, processed once complete
    assert summary["failed"] == 0 and summary["completed"] == summary["jobs"] >= summary["enqueued"]
    assert summary["by_template"]["marketing-campaign"] == CAMPAIGN
    # each retried payment goes through the sandbox, then queues its receipt and its order's commissions
    paid = queues["payment-retry"]["completed"]
    assert paid == summary["by_template"]["payment-retry"] > 0
    assert queues["email-sending"]["completed"] == EMAILS + paid
    assert (summary["by_template"]["analytics"], summary["by_template"]["daily-report"]) == (14, 1)
    assert summary["namespace"].startswith("jobctl-demo:") and summary["keys_removed"] > 0
    assert summary["seeded_rows"] > 10_000  # the demo's own store, seeded for roll-ups and reports
    assert len(list(Path(summary["outbox"]).glob("*.eml"))) == EMAILS + paid
    reports = sorted(p.name.rsplit(".", 1)[1] for p in Path(summary["reports"]).glob("*/*"))
    assert reports == ["csv", "csv", "json", "json", "pdf", "pdf"]
    images = [p for p in Path(summary["storage"]).glob("*/*") if p.suffix in (".jpg", ".png", ".webp")]
    assert len(images) >= 8  # every upload made at least one output (thumbnails make several)
    assert not list(Path(summary["folder"]).glob("*.db")), "the demo's store is removed after"
    return summary


def test_demo_on_a_fresh_embedded_server(monkeypatch):
    """The README's main job: no REDIS_URL, a fresh state folder, everything started and stopped."""
    monkeypatch.delenv("REDIS_URL")
    home = tempfile.mkdtemp(prefix="jt-demo-", dir="/tmp")
    monkeypatch.setenv("JOBCTL_HOME", home)
    try:
        summary = check_demo(run_demo("--json"))
        assert summary["server"] == "embedded"
        assert Path(summary["folder"]) == Path(home) / "demo"
        assert not (Path(home) / "jobctl.db").exists() and not (Path(home) / "outbox").exists()
        from jobctl.core import embedded

        assert not embedded.status(Path(home))["running"], "the demo stops the server it started"
    finally:
        from jobctl.core import embedded

        embedded.stop(Path(home))
        shutil.rmtree(home, ignore_errors=True)


def test_a_running_worker_gets_nothing_from_the_demo_and_no_key_remains(
    procs, own_redis, smtp_server, monkeypatch, tmp_path
):
    """A worker on the default namespace (no RQ_KEY_PREFIX) with EMAIL_PROVIDER=smtp, on the same server.

    The demo connects as a user whose ACL allows only keys and channels under jobctl-demo:, so any
    key it (or a script of its workers) touched outside its namespace would have failed it."""
    own_redis.start()  # a server of this test's own: after the demo, every key on it can be accounted for
    client = redis.Redis.from_url(own_redis.url)
    client.execute_command(
        "ACL", "SETUSER", "demo", "on", ">demo-pw", "~jobctl-demo:*", "&jobctl-demo:*", "+@all"
    )
    monkeypatch.setenv("REDIS_URL", own_redis.url)
    monkeypatch.delenv("RQ_KEY_PREFIX")  # RQ's default, "rq", for the worker and the demo's caller alike
    for name, value in {
        "EMAIL_PROVIDER": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_server.port),
        "SMTP_USER": smtp_server.credentials[0],
        "SMTP_PASSWORD": smtp_server.credentials[1],
        "JOBCTL_SMTP_SECURITY": "none",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}",
        "STRIPE_API_KEY": "sk_live_must_not_be_used",
    }.items():
        monkeypatch.setenv(name, value)
    procs.jobctl("worker", "start", *[arg for queue in JOB_QUEUES for arg in ("--queue", queue)])
    wait_for(lambda: client.scard("rq:workers"), timeout=30, what="the worker on the default namespace")

    monkeypatch.setenv("REDIS_URL", f"redis://demo:demo-pw@127.0.0.1:{own_redis.port}/0")
    started = time.monotonic()
    summary = check_demo(run_demo("--json"))
    print(f"demo wall time {time.monotonic() - started:.1f} s, its jobs {summary['elapsed_seconds']} s")
    monkeypatch.setenv("REDIS_URL", own_redis.url)

    assert smtp_server.handler.messages == [], "the demo's mail reached the other worker's SMTP server"
    assert [k for k in client.scan_iter(count=1000) if not k.startswith(b"rq:")] == [], "the demo left keys"
    assert client.keys("rq:job:*") == [] and client.keys("rq:queue:*") == []
    assert not (tmp_path / "shop.db").exists(), "the demo used DATABASE_URL's store"

    # the worker was live and would have mailed whatever it got: one email on its namespace does arrive
    sent = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobctl",
            "enqueue",
            "email",
            "--to",
            "ops@example.com",
            "--template",
            "welcome",
            "--data",
            "name=Ops",
            "--data",
            "login_url=https://x.io/l",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sent.returncode == 0, sent.stderr
    wait_for(lambda: smtp_server.handler.messages, timeout=30, what="the worker's own email over SMTP")
    assert [m["rcpt_tos"] for m in smtp_server.handler.messages] == [["ops@example.com"]]


def test_demo_refuses_in_one_line_when_it_cannot_have_keys_of_its_own(own_redis, monkeypatch, jobctl_env):
    own_redis.start()
    client = redis.Redis.from_url(own_redis.url)
    # an application user confined to RQ's default keys, as a shared server's ACL may have it
    client.execute_command("ACL", "SETUSER", "shop", "on", ">shop-pw", "~rq:*", "+@all")
    monkeypatch.setenv("REDIS_URL", f"redis://shop:shop-pw@127.0.0.1:{own_redis.port}/0")
    result = run_demo()
    assert result.returncode == 1
    first, hint = [line for line in result.stderr.splitlines() if line]
    assert first.startswith("jobctl: error: the demo needs keys of its own (jobctl-demo:")
    assert "~jobctl-demo:*" in hint and "Traceback" not in result.stderr
    assert client.dbsize() == 0 and not (jobctl_env / "demo").exists()


def test_a_second_demo_in_the_same_state_folder_is_refused(jobctl_env):
    from filelock import FileLock

    with FileLock(str(jobctl_env / "demo.lock")):  # as a running demo holds it
        result = run_demo()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "jobctl: error: another jobctl demo is running in" in result.stderr
    assert not (jobctl_env / "demo").exists()  # refused before anything was written
