"""CLI enqueue -> real worker process -> real SMTP server."""

from __future__ import annotations

import email
import json
import subprocess
import sys
from email import policy

import pytest
from rq.job import Job

from jobctl.core.payloads import PayloadSerializer
from tests.conftest import KEY_PREFIX

pytestmark = pytest.mark.e2e


def jobctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobctl", *args], capture_output=True, text=True, timeout=60)


def test_cli_enqueue_worker_delivers_over_smtp(procs, smtp_server, monkeypatch, tmp_path, redis_client):
    monkeypatch.setenv("EMAIL_PROVIDER", "smtp")
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("SMTP_USER", smtp_server.credentials[0])
    monkeypatch.setenv("SMTP_PASSWORD", smtp_server.credentials[1])
    monkeypatch.setenv("JOBCTL_SMTP_SECURITY", "none")
    invoice = tmp_path / "invoice.pdf"
    invoice.write_bytes(b"%PDF-1.4 jobctl test invoice\n%%EOF\n")

    result = jobctl(
        "enqueue",
        "email",
        "--to",
        "ada@example.com",
        "--template",
        "welcome",
        "--data",
        "name=Ada",
        "--data",
        "login_url=https://shop.example.com/login",
        "--attach",
        str(invoice),
        "--priority",
        "high",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    job_id = json.loads(result.stdout)["job_id"]

    worker = procs.jobctl("worker", "start", "--queue", "email-sending", "--burst")
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, out
    assert smtp_server.credentials[1] not in out  # the SMTP password never reaches the logs

    [delivered] = smtp_server.handler.messages
    assert delivered["rcpt_tos"] == ["ada@example.com"] and delivered["login"] == smtp_server.credentials[0]
    msg = email.message_from_bytes(delivered["data"], policy=policy.default)
    assert "Ada" in msg["Subject"] or "Welcome" in msg["Subject"]
    assert "Ada" in msg.get_body(("plain",)).get_content()
    assert "https://shop.example.com/login" in msg.get_body(("html",)).get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "invoice.pdf"
    assert attachment.get_content() == invoice.read_bytes()

    job = Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer)
    assert job.get_status() == "finished"
    assert job.return_value()["provider"] == "smtp"


def test_bad_email_input_enqueues_nothing(redis_client):
    for args, needle in [
        (
            (
                "--to",
                "not-an-address",
                "--template",
                "welcome",
                "--data",
                "name=A",
                "--data",
                "login_url=https://x.io",
            ),
            "invalid email address",
        ),
        (("--to", "a@example.com", "--template", "nope"), "unknown email template 'nope'"),
        (("--to", "a@example.com", "--template", "welcome", "--data", "name=A"), "login_url"),
        (("--to", "a@example.com", "--template", "welcome", "--data-json", "{bad"), "not valid JSON"),
        (
            (
                "--to",
                "a@example.com",
                "--template",
                "welcome",
                "--data",
                "name=A",
                "--data",
                "login_url=https://x.io",
                "--attach",
                "/nonexistent/file.pdf",
            ),
            "file.pdf",
        ),
    ]:
        result = jobctl("enqueue", "email", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert needle in result.stderr and "Traceback" not in result.stderr
        assert result.stderr.startswith("jobctl: error: ")
    assert redis_client.keys(f"{KEY_PREFIX}:job:*") == []
