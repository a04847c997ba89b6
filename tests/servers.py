"""Real servers on loopback for the tests: aiosmtpd (SMTP), a fake SendGrid and a webhook receiver
(both http.server), and a file server. Their fixtures are registered for the whole suite by tests/conftest.py.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SMTP_USER, SMTP_PASSWORD = "mailer", "pw-Sup3r-s3cret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingSMTPHandler:
    """Accepts mail; recipients whose local part starts with reject/busy get 550/451."""

    def __init__(self):
        self.messages: list[dict] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        if local.startswith("busy"):
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        login = session.auth_data.login.decode() if session.authenticated else None
        self.messages.append(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "data": envelope.content,
                "login": login,
            }
        )
        return "250 2.0.0 Message accepted for delivery"


def _authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@pytest.fixture(scope="session")
def _smtp_controller():
    from aiosmtpd.controller import Controller

    handler = RecordingSMTPHandler()
    controller = Controller(
        handler, hostname="127.0.0.1", port=_free_port(), authenticator=_authenticator, auth_require_tls=False
    )
    controller.credentials = (SMTP_USER, SMTP_PASSWORD)  # what the authenticator accepts
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def smtp_server(_smtp_controller):
    """The running aiosmtpd controller; `.handler.messages` holds what this test delivered."""
    _smtp_controller.handler.messages.clear()
    return _smtp_controller


@pytest.fixture
def closed_port():
    """A port bound but not listening: connecting to it is refused, and nobody else can take it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def silent_port():
    """A port that accepts connections but never says a word (SMTP greeting never comes)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


class FakeSendGrid(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _SendGridHandler)
        self.requests: list[dict] = []
        self.replies: list[tuple[int, dict | None]] = []  # queued (status, json body); default 202

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reply_with(self, status: int, body: dict | None = None) -> None:
        self.replies.append((status, body))


class _SendGridHandler(BaseHTTPRequestHandler):
    server: FakeSendGrid

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        self.server.requests.append(
            {"method": "POST", "path": self.path, "headers": dict(self.headers), "body": body}
        )
        status, reply = self.server.replies.pop(0) if self.server.replies else (202, None)
        data = json.dumps(reply).encode() if reply is not None else b""
        self.send_response(status)
        if 200 <= status < 300:
            self.send_header("X-Message-Id", f"sg-{len(self.server.requests)}")
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # keep test output quiet
        pass


def serve(server, monkeypatch):
    """Run an http.server on loopback in a thread for one test, bypassing any proxy settings."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def sendgrid_server(monkeypatch):
    yield from serve(FakeSendGrid(), monkeypatch)


@pytest.fixture
def configure(monkeypatch):
    """configure(EMAIL_PROVIDER="smtp", ...) sets the environment and returns fresh runtime settings."""
    from jobctl.core import runtime

    def apply(**env):
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        runtime.reset()
        return runtime.settings()

    return apply


SAMPLE_DATA = {
    "welcome": {"name": "Ada", "login_url": "https://shop.example.com/login"},
    "password-reset": {
        "name": "Ada",
        "reset_url": "https://shop.example.com/reset?token=abc&u=1",
        "expires_in_minutes": 30,
    },
    "order-confirmation": {
        "name": "Ada",
        "order_id": "ORD-1042",
        "currency": "USD",
        "shipping": "4.50",
        "order_url": "https://shop.example.com/orders/ORD-1042",
        "items": [
            {"name": "Ceramic mug", "quantity": 2, "unit_price": "12.50"},
            {"name": "Linen tote", "quantity": 1, "unit_price": 19.99},
        ],
    },
    "payment-failed": {
        "name": "Ada",
        "order_id": "ORD-1042",
        "amount": "49.49",
        "currency": "EUR",
        "reason": "insufficient funds",
        "retry_date": "2025-03-02",
        "update_payment_url": "https://shop.example.com/billing",
    },
    "report-ready": {
        "name": "Ada",
        "report_name": "Sales",
        "period": "February 2025",
        "download_url": "https://shop.example.com/reports/42.csv",
    },
    "dead-letter-alert": {
        "queue": "email-sending",
        "count": 3,
        "job_id": "job-42",
        "job_type": "email",
        "error_type": "TransientJobFailure",
        "error_message": "Ada's mailbox is full",
        "died_at": "2025-03-01T06:00:00+00:00",
        "window_minutes": 5,
    },
    "alert-rule": {
        "event": "firing",
        "rule": "queue_size",
        "subject": "email-sending",
        "message": "email-sending has 12,000 waiting jobs (Ada's campaign)",
        "value": 12000,
        "threshold": 10000,
        "since": "2026-03-01T06:00:00+00:00",
        "fired_for": None,  # a firing: set only on a resolving
    },
    "payment-receipt": {
        "name": "Ada",
        "order_id": 1042,
        "amount": "49.49",
        "currency": "EUR",
        "provider": "stripe",
        "reference": "pi_3Nx",
        "paid_at": "2026-03-01 06:00 UTC",
        "order_url": "https://shop.example.com/orders/1042",
    },
    "payment-declined": {
        "name": "Ada",
        "order_id": 1042,
        "amount": "49.49",
        "currency": "EUR",
        "reason": "insufficient funds",
        "update_payment_url": "https://shop.example.com/billing",
    },
    "admin-report": {
        "report_name": "weekly",
        "title": "Weekly report for Ada's marketplace",
        "period": "2026-11-16 to 2026-11-22",
        "files": ["weekly-2026-11-16.pdf"],
        "lines": ["Revenue: $12,345.67 (+12.2% on the previous week)", "Orders: 312 (+7.6%)"],
    },
    "infected-file-alert": {
        "file_id": "f-7",
        "file_name": "Ada-cat.jpg",
        "user_id": "u-1",
        "product_id": "p-9",
        "signature": "Eicar-Test-Signature",
        "scanner": "builtin",
        "sha256": "ab" * 32,
        "quarantine_path": "/srv/jobctl/storage/quarantine/" + "ab" * 32,
        "job_id": "job-43",
    },
    "marketing-campaign": {
        "name": "Ada",
        "headline": "Spring sale: 20% off",
        "body": "Fresh picks from our sellers.\n\nEnds Sunday.",
        "cta_text": "Shop the sale",
        "cta_url": "https://shop.example.com/sale",
        "unsubscribe_url": "https://shop.example.com/unsubscribe?u=1",
    },
}


@pytest.fixture
def sample_data():
    """Valid data for every built-in template (a fresh deep copy per test)."""
    return json.loads(json.dumps(SAMPLE_DATA))


class WebhookReceiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _WebhookHandler)
        self.requests: list[dict] = []
        self.status = 204

    def url(self, path: str = "/hooks/jobctl?token=tok-SECRET-123") -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    @property
    def bodies(self) -> list[dict]:
        return [json.loads(r["raw"]) for r in self.requests]


class _WebhookHandler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "raw": raw.decode()})
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


@pytest.fixture
def webhook(monkeypatch):
    yield from serve(WebhookReceiver(), monkeypatch)


class FileServer(ThreadingHTTPServer):
    """Serves uploads for the file tests: routes of path -> (status, body, how), where how is
    "plain" (with Content-Length), "chunked" (none, as a stream) or "understated" (a Content-Length
    smaller than the body: a server that lies)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _FileHandler)
        self.routes: dict[str, tuple[int, bytes, str]] = {}
        self.hits: list[str] = []

    def add(self, path: str, body: bytes, status: int = 200, how: str = "plain") -> str:
        self.routes[path] = (status, body, how)
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _FileHandler(BaseHTTPRequestHandler):
    server: FileServer
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.hits.append(self.path)
        status, body, how = self.server.routes.get(self.path, (404, b"not found", "plain"))
        self.send_response(status)
        if how == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for start in range(0, len(body), 65536):
                    piece = body[start : start + 65536]
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):  # the client stopped reading: expected
                pass
            return
        length = len(body) // 2 if how == "understated" else len(body)
        self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format, *args):
        pass


@pytest.fixture
def file_server(monkeypatch):
    """A loopback file server, which the fetch policy refuses unless allowed: this test allows it."""
    from jobctl.core import runtime

    monkeypatch.setenv("JOBCTL_FETCH_ALLOW_HOSTS", "127.0.0.1")
    runtime.reset()
    yield from serve(FileServer(), monkeypatch)
