"""The fetch policy: what a file job may read is refused at every way in (nothing stored, one line +
hint) and again in the worker (dead-lettered), always with the same words, whatever the reason."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobctl.config import load_settings
from jobctl.core import dlq, runtime, submit
from jobctl.core.fetch_policy import HINT, FetchPolicy, could_not_fetch, is_public
from jobctl.errors import ConfigError, PermanentJobFailure
from jobctl.jobs.files.fetch import fetch
from jobctl.jobs.files.job import process_file_job
from tests.jobs.files import images
from tests.servers import serve

REFUSED_URLS = [
    "http://127.0.0.1/a.jpg",
    "http://127.0.0.1:6379/",
    "http://127.1/a.jpg",
    "http://2130706433/a.jpg",
    "http://0x7f.0.0.1/a.jpg",
    "http://[::1]/a.jpg",
    "http://[::ffff:127.0.0.1]/a.jpg",
    "http://localhost/a.jpg",
    "http://LOCALHOST./a.jpg",
    "http://admin.localhost/a.jpg",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://10.0.0.1/a.jpg",
    "http://172.16.0.1/a.jpg",
    "https://192.168.1.1/a.jpg",
    "http://0.0.0.0/a.jpg",
    "http://224.0.0.1/a.jpg",
]
FILE = {"file_id": "f-1", "file_type": "image/jpeg", "user_id": "u-1", "processing_type": "virus_scan"}


def keys(redis_client) -> set[bytes]:
    """Every key of this test's namespace: nothing refused may leave one behind."""
    return set(redis_client.scan_iter(f"{os.environ['RQ_KEY_PREFIX']}:*"))


def refused_line(url: str) -> str:
    return f"jobctl: error: {could_not_fetch(url)}\nhint: {HINT}\n"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("64:ff9b::808:808", True),  # NAT64 of a public address, as on an IPv6-only host
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.100.100.200", False),  # shared address space: Alibaba's metadata
        ("0.0.0.0", False),
        ("224.0.0.251", False),
        ("239.1.1.1", False),
        ("255.255.255.255", False),
        ("::", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),  # AWS metadata over IPv6
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::127.0.0.1", False),  # IPv4-compatible, which `is_global` calls public
        ("2002:7f00:1::", False),  # 6to4 of loopback
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of the metadata address
    ],
)
def test_which_addresses_are_public(address, public):
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_internal_urls_are_refused_at_enqueue_with_one_line_and_nothing_stored(cli, url, redis_client):
    before = keys(redis_client)
    refused = cli("enqueue", "file", "--url", url, "--type", "jpg", "--processing", "virus_scan", code=2)
    assert refused.stderr == refused_line(url)
    assert keys(redis_client) == before


def test_local_paths_outside_the_roots_are_refused_alike_whether_they_exist_or_not(
    cli,
    tmp_path,
    redis_client,
):
    outside = tmp_path.parent / f"{tmp_path.name}-outside.jpg"
    outside.write_bytes(b"\xff\xd8\xff" + b"\0" * 10)
    link = tmp_path / "link.jpg"
    link.symlink_to(outside)
    cases = {
        "/etc/shadow": "/etc/shadow",
        "/etc/hostname": "/etc/hostname",
        "file:///etc/passwd": "/etc/passwd",
        "/no/such/file.pdf": "/no/such/file.pdf",
        str(outside): str(outside),
        "../" + outside.name: str(outside),  # relative to the working folder, the root
        str(link): str(link),  # inside the root, but it leads out
    }
    before = keys(redis_client)
    for url, shown in cases.items():
        args = ("enqueue", "file", "--url", url, "--type", "pdf", "--processing", "virus_scan")
        assert cli(*args, code=2).stderr == refused_line(shown), url
    assert keys(redis_client) == before


def test_default_roots_are_the_storage_folder_and_uploads_in_the_state_folder(
    cli,
    monkeypatch,
    jobctl_env,
    tmp_path,
):
    monkeypatch.delenv("JOBCTL_FILE_ROOTS")
    settings = load_settings()
    uploads, storage = jobctl_env / "uploads", settings.storage_path
    assert FetchPolicy.from_settings(settings).roots == (storage.resolve(), uploads.resolve())
    for folder in (uploads, storage):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "a.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 10)
        cli("enqueue", "file", "--url", str(folder / "a.jpg"), "--type", "jpg")
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff")
    cli("enqueue", "file", "--url", str(tmp_path / "b.jpg"), "--type", "jpg", code=2)


def test_the_allowlist_lets_named_hosts_and_ranges_in(cli, monkeypatch):
    for allowed, url in [
        ("127.0.0.0/8", "http://127.0.0.1:8080/a.jpg"),
        ("10.20.0.0/16,cdn.internal", "http://10.20.3.4/a.jpg"),
        ("localhost", "http://localhost:8080/a.jpg"),
    ]:
        monkeypatch.setenv("JOBCTL_FETCH_ALLOW_HOSTS", allowed)
        cli("enqueue", "file", "--url", url, "--type", "jpg")


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("JOBCTL_FETCH_ALLOW_HOSTS", "http://cdn.internal"),
        ("JOBCTL_FETCH_ALLOW_HOSTS", "10.0.0.0/33"),
        ("JOBCTL_FILE_ROOTS", "uploads"),
    ],
)
def test_bad_policy_settings_are_refused(monkeypatch, env, value):
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=env):
        load_settings()


# --- in the worker: whatever got in earlier, and whatever DNS says now ---


def test_a_closed_and_an_open_port_fail_alike_in_the_worker(monkeypatch, file_server, closed_port, caplog):
    open_url = file_server.add("/a.jpg", b"\xff\xd8\xff" + b"\0" * 10)
    closed_url = f"http://127.0.0.1:{closed_port}/a.jpg"
    # queued while the loopback server was allowed; the allowlist is gone by the time they run
    payloads = [
        submit.prepare(runtime.settings(), "file", {**FILE, "file_url": u}) for u in (open_url, closed_url)
    ]
    monkeypatch.delenv("JOBCTL_FETCH_ALLOW_HOSTS")
    runtime.reset()
    for url, payload in zip((open_url, closed_url), payloads, strict=True):
        with pytest.raises(PermanentJobFailure) as failure:
            process_file_job(payload)
        assert str(failure.value) == could_not_fetch(url)
    assert file_server.hits == []  # refused before connecting: the server never saw a request
    assert "127.0.0.1, which is not a public address" in caplog.text  # the operator learns why


def test_a_name_resolving_to_an_internal_address_is_refused_when_fetched(monkeypatch, tmp_path):
    # the enqueuer cannot tell what a name resolves to; the worker resolves it and refuses loopback
    real = socket.getaddrinfo

    def resolver(host, *args, **kwargs):
        return real("127.0.0.1" if host == "files.example" else host, *args, **kwargs)

    payload = submit.prepare(runtime.settings(), "file", {**FILE, "file_url": "http://files.example/a.jpg"})
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with pytest.raises(PermanentJobFailure) as failure:
        process_file_job(payload)
    assert str(failure.value) == "could not fetch http://files.example/a.jpg"


def test_an_allowed_name_is_fetched_from_the_address_it_resolved_to(monkeypatch, file_server, tmp_path):
    # files.example is allowed by name and "resolves" to the loopback server: the connection goes
    # to that checked address while the request still names the host
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *a, **k: real("127.0.0.1" if host == "files.example" else host, *a, **k),
    )
    url = file_server.add("/a.jpg", b"jpeg bytes").replace("127.0.0.1", "files.example")
    policy = FetchPolicy(allow_names=frozenset({"files.example"}))
    assert fetch(url, tmp_path, limit=1000, timeout=5, policy=policy).size == len(b"jpeg bytes")


class Redirector(ThreadingHTTPServer):
    """Answers every GET with a redirect to `target`."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _RedirectHandler)
        self.target = ""

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/a.jpg"


class _RedirectHandler(BaseHTTPRequestHandler):
    server: Redirector

    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", self.server.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


@pytest.fixture
def redirector(monkeypatch):
    yield from serve(Redirector(), monkeypatch)


@pytest.mark.parametrize(
    "target", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::1]:{port}/a.jpg"]
)
def test_a_redirect_to_an_internal_address_is_refused(redirector, file_server, tmp_path, target):
    # the first hop is allowed (127.0.0.1 is on the allowlist), the redirect's target is not
    redirector.target = target.format(port=file_server.server_address[1])
    policy = FetchPolicy(allow_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    with pytest.raises(PermanentJobFailure) as failure:
        fetch(redirector.url(), tmp_path, limit=1000, timeout=5, policy=policy)
    assert str(failure.value) == could_not_fetch(redirector.url())


def test_a_redirect_within_the_allowed_hosts_is_followed(redirector, file_server, tmp_path):
    redirector.target = file_server.add("/a.jpg", b"the file")
    policy = FetchPolicy(allow_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    assert fetch(redirector.url(), tmp_path, limit=1000, timeout=5, policy=policy).size == len(b"the file")


def test_a_file_swapped_for_a_symlink_after_enqueue_is_refused_in_the_worker(tmp_path):
    upload = images.jpeg_with_exif_orientation_and_gps(tmp_path / "cat.jpg")
    payload = submit.prepare(runtime.settings(), "file", {**FILE, "file_url": str(upload)})
    upload.unlink()
    upload.symlink_to("/etc/hostname")
    with pytest.raises(PermanentJobFailure) as failure:
        process_file_job(payload)
    assert str(failure.value) == could_not_fetch(str(upload))


def test_a_refused_job_is_dead_lettered_by_a_real_worker_with_the_uniform_message(monkeypatch, file_server):
    url = file_server.add("/a.jpg", b"\xff\xd8\xff" + b"\0" * 10)
    job_id = submit.submit(runtime.connection(), runtime.settings(), "file", {**FILE, "file_url": url})
    monkeypatch.delenv("JOBCTL_FETCH_ALLOW_HOSTS")
    worker = subprocess.run(
        [sys.executable, "-m", "jobctl", "worker", "start", "--queue", "file-processing", "--burst"],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ,
    )
    assert worker.returncode == 0, worker.stdout + worker.stderr
    entry = dlq.get_entry(runtime.connection(), job_id)
    assert entry["error_message"] == could_not_fetch(url) and entry["attempt_count"] == 1
    assert file_server.hits == []
