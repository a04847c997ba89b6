"""The one outbound HTTP adapter against a real HTTP/1.1 server on loopback: pooling, timeouts, the
body cap, and secrets kept out of every failure and log line."""

from __future__ import annotations

import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network

import pytest

from jobctl.core import http_client
from jobctl.core.fetch_policy import FetchPolicy

KEY = "sk_live_TOPSECRET42"


class KeepAliveServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[dict] = []  # per request: the client's port and the headers it sent
        self.body = b'{"ok": true}'

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a pooled client can reuse the connection
    server: KeepAliveServer

    def do_GET(self):
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.server.seen.append({"port": self.client_address[1], "headers": dict(self.headers)})
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def server():
    srv = KeepAliveServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_requests_reuse_one_pooled_connection_and_say_who_they_are(server):
    first = http_client.request("GET", server.url("/a"))
    second = http_client.request("GET", server.url("/b"))

    assert (first.status, first.body) == (200, b'{"ok": true}')
    assert second.status == 200
    assert server.seen[0]["port"] == server.seen[1]["port"]  # same TCP connection: the pool kept it
    assert server.seen[0]["headers"]["User-Agent"] == "jobctl"


def test_an_answer_is_cut_at_max_body(server):
    server.body = b"x" * 300_000
    assert len(http_client.request("GET", server.url(), max_body=1000).body) == 1000


def test_redirects_are_followed_only_by_the_policed_fetch(server):
    assert http_client.request("GET", server.url("/moved")).status == 302  # an API's 3xx is its status
    loopback = FetchPolicy(allow_networks=(ip_network("127.0.0.0/8"),))
    with http_client.fetch(server.url("/moved"), policy=loopback) as response:
        assert (response.status_code, response.read()) == (200, b'{"ok": true}')


def test_a_forked_child_builds_its_own_client(server):
    parent = http_client.client()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it got a fresh client, then leave without pytest's exit
        ok = http_client.client() is not parent and http_client.request("GET", server.url()).status == 200
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert (os.read(read, 1), status) == (b"1", 0)
    os.close(read)
    assert http_client.client() is parent


def test_a_refused_connection_is_unreachable_without_the_query(closed_port):
    with pytest.raises(http_client.Unreachable) as caught:
        http_client.request("GET", f"http://127.0.0.1:{closed_port}/hook?token=tok-SECRET-123")
    assert caught.value.reason == "Connection refused" and caught.value.kind == "ConnectError"


def test_a_silent_server_times_out(silent_port):
    with pytest.raises(http_client.TimedOut) as caught:
        http_client.request("GET", f"http://127.0.0.1:{silent_port}/", timeout=0.3)
    assert caught.value.kind == "ReadTimeout"


def test_a_header_that_cannot_be_sent_never_echoes_the_key(server):
    # h11 quotes the illegal header value in its error: the adapter masks it, in every escaping.
    for value in (f"Bearer {KEY}\n", f"{KEY}\r\nX-Injected: 1"):
        with pytest.raises(http_client.Unsendable) as caught:
            http_client.request("GET", server.url(), headers={"Authorization": value})
        assert KEY not in str(caught.value) and "TOPSECRET" not in caught.value.reason
    assert server.seen == []  # nothing reached the server


def test_a_bad_scheme_is_unsendable_and_masks_the_password():
    with pytest.raises(http_client.Unsendable) as caught:
        http_client.request("GET", "ftp://user:pw-Sup3r@files.example/x")
    assert "pw-Sup3r" not in caught.value.reason


def test_redact_masks_given_secrets_and_joins_lines():
    text = http_client.redact(f"denied\n  for key {KEY} (short: ab)", [KEY, "ab", ""])
    assert text == "denied for key ******** (short: ab)"  # two-character "secrets" would mask too much


def test_the_request_log_line_with_its_full_url_stays_out_of_the_logs(server, caplog):
    caplog.set_level(logging.DEBUG)
    http_client.request("GET", server.url("/hook?token=tok-SECRET-123"))
    assert "tok-SECRET-123" not in caplog.text
