"""send_email, the RQ job function, against real providers: outbox files, aiosmtpd, a fake SendGrid."""

from __future__ import annotations

import base64
import email
from email import policy
from pathlib import Path

import pytest

from jobctl.errors import PermanentJobFailure, TransientJobFailure
from jobctl.jobs.email import prepare_email_payload, send_email

ATTACHMENT = b"%PDF-1.4\n%fake invoice\n" + bytes(range(256))


@pytest.fixture
def invoice(tmp_path) -> Path:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(ATTACHMENT)
    return path


@pytest.fixture
def payload(configure, sample_data, invoice):
    def build(to="Ada Lovelace <ada@example.com>", template="order-confirmation", **kwargs):
        settings = configure()
        return prepare_email_payload(
            settings, to=to, template=template, data=sample_data[template], attachments=[invoice], **kwargs
        )

    return build


def _check_parsed(message, *, to="Ada Lovelace <ada@example.com>"):
    assert message["Subject"] == "Order ORD-1042 confirmed"
    assert message["From"] == "Marketplace <no-reply@marketplace.local>"
    assert message["To"] == to
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith("@marketplace.local>")
    assert message["X-Jobctl-Template"] == "order-confirmation"
    assert message.get_content_type() == "multipart/mixed"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert "Ceramic mug" in text.get_content() and "$49.49" in text.get_content()
    assert "<td>Ceramic mug</td>" in html.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "invoice.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == ATTACHMENT


# --- outbox -----------------------------------------------------------------------------------


def test_outbox_writes_a_parseable_eml(payload, jobctl_env):
    result = send_email(payload())
    path = Path(result["path"])
    assert path.parent == jobctl_env / "outbox" and path.suffix == ".eml"
    assert result["provider"] == "outbox" and result["template"] == "order-confirmation"
    assert result["to"] == ["Ada Lovelace <ada@example.com>"]
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["Message-ID"] == result["message_id"]
    _check_parsed(message)


def test_subject_override_is_used(payload):
    result = send_email(payload(subject="Your receipt"))
    message = email.message_from_bytes(Path(result["path"]).read_bytes(), policy=policy.default)
    assert message["Subject"] == "Your receipt"


def test_bad_payload_in_the_worker_is_permanent(configure, sample_data):
    configure()
    with pytest.raises(PermanentJobFailure, match="needs variable 'name'"):
        send_email({"to": ["a@example.com"], "template": "welcome", "data": {"login_url": "https://x.io"}})
    with pytest.raises(PermanentJobFailure, match="unknown email template"):
        send_email({"to": ["a@example.com"], "template": "nope", "data": {}})
    with pytest.raises(PermanentJobFailure, match="invalid email address"):
        send_email({"to": ["nope"], "template": "welcome", "data": sample_data["welcome"]})
    with pytest.raises(PermanentJobFailure, match="not valid base64"):
        send_email(
            {
                "to": ["a@example.com"],
                "template": "welcome",
                "data": sample_data["welcome"],
                "attachments": [{"filename": "a.txt", "content_type": "text/plain", "content_b64": "%%%"}],
            }
        )
    with pytest.raises(PermanentJobFailure, match="must be an object"):
        send_email("not a dict")


def test_send_email_runs_in_an_rq_worker(payload, redis_client, jobctl_env):
    from rq import Queue

    from tests.rq_plain import PlainWorker

    queue = Queue("email-test", connection=redis_client)
    job = queue.enqueue("jobctl.jobs.email.send_email", payload())
    PlainWorker([queue], connection=redis_client).work(burst=True)
    job.refresh()
    assert job.is_finished, job.latest_result().exc_string if job.latest_result() else job.get_status()
    result = job.return_value()
    assert result["message_id"] == f"<jobctl.{job.id}@marketplace.local>"  # stable across retries
    assert Path(result["path"]).is_file()


# --- SMTP -------------------------------------------------------------------------------------


@pytest.fixture
def smtp(configure, smtp_server):
    def settings(**env):
        env = {"JOBCTL_SMTP_SECURITY": "none", "JOBCTL_SMTP_TIMEOUT": 5, **env}
        return configure(EMAIL_PROVIDER="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port, **env)

    return settings


def test_smtp_delivers_to_the_server(smtp, smtp_server, payload):
    data = payload(to=["Ada Lovelace <ada@example.com>", "bob@example.org"])
    smtp()
    result = send_email(data)
    assert result["provider"] == "smtp" and "refused" not in result
    [received] = smtp_server.handler.messages
    assert received["mail_from"] == "no-reply@marketplace.local"
    assert received["rcpt_tos"] == ["ada@example.com", "bob@example.org"]
    assert received["login"] is None
    message = email.message_from_bytes(received["data"], policy=policy.default)
    assert message["Message-ID"] == result["message_id"]
    _check_parsed(message, to="Ada Lovelace <ada@example.com>, bob@example.org")


def test_smtp_login_when_user_is_set(smtp, smtp_server, payload):
    data = payload()
    user, password = smtp_server.credentials
    smtp(SMTP_USER=user, SMTP_PASSWORD=password)
    send_email(data)
    assert [m["login"] for m in smtp_server.handler.messages] == [user]


def test_smtp_bad_password_is_permanent_and_secret_free(smtp, smtp_server, payload):
    data = payload()
    user, password = smtp_server.credentials
    smtp(SMTP_USER=user, SMTP_PASSWORD="wrong-" + password)
    with pytest.raises(PermanentJobFailure, match="535") as info:
        send_email(data)
    assert password not in str(info.value)
    assert smtp_server.handler.messages == []


def test_smtp_550_is_permanent(smtp, payload):
    data = payload(to="reject-me@example.com")
    smtp()
    with pytest.raises(PermanentJobFailure, match="550") as info:
        send_email(data)
    assert "reject-me@example.com" in str(info.value)


def test_smtp_451_is_transient(smtp, payload):
    data = payload(to="busy@example.com")
    smtp()
    with pytest.raises(TransientJobFailure, match="451"):
        send_email(data)


def test_smtp_partly_refused_is_reported_not_retried(smtp, smtp_server, payload):
    data = payload(to=["ada@example.com", "reject-me@example.com"])
    smtp()
    result = send_email(data)
    assert list(result["refused"]) == ["reject-me@example.com"]
    assert result["refused"]["reject-me@example.com"].startswith("550")
    assert smtp_server.handler.messages[0]["rcpt_tos"] == ["ada@example.com"]


def test_smtp_connection_refused_is_transient(configure, closed_port, payload):
    data = payload()
    configure(
        EMAIL_PROVIDER="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=closed_port, JOBCTL_SMTP_SECURITY="none"
    )
    with pytest.raises(TransientJobFailure, match="refused the connection"):
        send_email(data)


def test_smtp_timeout_is_transient(configure, silent_port, payload):
    data = payload()
    configure(
        EMAIL_PROVIDER="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=silent_port,
        JOBCTL_SMTP_SECURITY="none",
        JOBCTL_SMTP_TIMEOUT=1,
    )
    with pytest.raises(TransientJobFailure, match="timed out"):
        send_email(data)


def test_smtp_starttls_unsupported_is_permanent(smtp, payload):
    data = payload()
    smtp(JOBCTL_SMTP_SECURITY="starttls")
    with pytest.raises(PermanentJobFailure, match="JOBCTL_SMTP_SECURITY"):
        send_email(data)


# --- SendGrid ---------------------------------------------------------------------------------

API_KEY = "SG.test-key-0123456789"


@pytest.fixture
def sendgrid(configure, sendgrid_server):
    def settings(**env):
        env = {"SENDGRID_API_KEY": API_KEY, **env}
        return configure(EMAIL_PROVIDER="sendgrid", JOBCTL_SENDGRID_URL=sendgrid_server.url, **env)

    return settings


def test_sendgrid_202_sends_a_v3_request(sendgrid, sendgrid_server, payload):
    data = payload(to=["Ada Lovelace <ada@example.com>", "bob@example.org"])
    sendgrid()
    result = send_email(data)
    assert result == {
        "provider": "sendgrid",
        "message_id": "sg-1",
        "status": 202,
        "to": ["Ada Lovelace <ada@example.com>", "bob@example.org"],
        "template": "order-confirmation",
    }
    [request] = sendgrid_server.requests
    assert request["path"] == "/v3/mail/send"
    assert request["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert request["headers"]["Content-Type"] == "application/json"
    body = request["body"]
    assert body["personalizations"] == [
        {"to": [{"email": "ada@example.com", "name": "Ada Lovelace"}, {"email": "bob@example.org"}]}
    ]
    assert body["from"] == {"email": "no-reply@marketplace.local", "name": "Marketplace"}
    assert body["subject"] == "Order ORD-1042 confirmed"
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert "$49.49" in body["content"][0]["value"] and "<td>Ceramic mug</td>" in body["content"][1]["value"]
    [attachment] = body["attachments"]
    assert attachment["filename"] == "invoice.pdf" and attachment["type"] == "application/pdf"
    assert base64.b64decode(attachment["content"]) == ATTACHMENT


def test_sendgrid_400_is_permanent_with_the_providers_reason(sendgrid, sendgrid_server, payload):
    data = payload()
    sendgrid()
    sendgrid_server.reply_with(400, {"errors": [{"message": "Invalid from email", "field": "from.email"}]})
    with pytest.raises(PermanentJobFailure, match=r"400.*from\.email: Invalid from email"):
        send_email(data)


def test_sendgrid_401_hides_the_key(sendgrid, sendgrid_server, payload):
    data = payload()
    sendgrid()
    sendgrid_server.reply_with(401, {"errors": [{"message": f"bad key {API_KEY}"}]})
    with pytest.raises(PermanentJobFailure, match="SENDGRID_API_KEY") as info:
        send_email(data)
    assert API_KEY not in str(info.value)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_sendgrid_429_and_5xx_are_transient(sendgrid, sendgrid_server, payload, status):
    data = payload()
    sendgrid()
    sendgrid_server.reply_with(status, {"errors": [{"message": "slow down"}]})
    with pytest.raises(TransientJobFailure, match=str(status)):
        send_email(data)


def test_sendgrid_unreachable_is_transient(configure, closed_port, payload):
    data = payload()
    configure(
        EMAIL_PROVIDER="sendgrid",
        SENDGRID_API_KEY=API_KEY,
        JOBCTL_SENDGRID_URL=f"http://127.0.0.1:{closed_port}",
    )
    with pytest.raises(TransientJobFailure, match="cannot reach SendGrid"):
        send_email(data)


def test_sendgrid_without_key_is_permanent(sendgrid, sendgrid_server, payload):
    data = payload()
    sendgrid(SENDGRID_API_KEY="")
    with pytest.raises(PermanentJobFailure, match="SENDGRID_API_KEY is not set"):
        send_email(data)
    assert sendgrid_server.requests == []


def test_sendgrid_key_that_cannot_be_sent_is_permanent_and_never_echoed(sendgrid, sendgrid_server, payload):
    data = payload()
    sendgrid(SENDGRID_API_KEY=f"{API_KEY}\nX-Injected: 1")  # a key pasted with a line break
    with pytest.raises(PermanentJobFailure, match=r"cannot send to SendGrid.*stray characters") as info:
        send_email(data)
    assert "0123456789" not in str(info.value)
    assert sendgrid_server.requests == []
