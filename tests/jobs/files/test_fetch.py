"""Fetching uploads: local paths, file:// and http(s), streamed, hashed and cut off at the limit."""

from __future__ import annotations

import hashlib
import os
import re
from ipaddress import ip_network

import pytest

from jobctl.core.fetch_policy import FetchPolicy, safe_url
from jobctl.errors import PermanentJobFailure, TransientJobFailure
from jobctl.jobs.files.fetch import fetch

MB = 1024 * 1024


@pytest.fixture
def work(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def get(url, work, limit=MB, timeout=5):
    # the test's folder and its loopback servers are allowed; tests/files/test_fetch_policy.py
    # covers what is refused
    policy = FetchPolicy(allow_networks=(ip_network("127.0.0.1/32"),), roots=(work.parent,))
    return fetch(url, work, limit=limit, timeout=timeout, policy=policy)


def test_local_path_and_file_url_are_copied_with_size_and_hash(tmp_path, work):
    source = tmp_path / "upload.bin"
    source.write_bytes(os.urandom(200_000))
    for url in (str(source), source.as_uri()):
        fetched = get(url, work)
        assert fetched.path.parent == work and fetched.path.read_bytes() == source.read_bytes()
        assert (fetched.size, fetched.sha256) == (200_000, hashlib.sha256(source.read_bytes()).hexdigest())


def test_local_file_over_the_limit_is_refused_before_copying(tmp_path, work):
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * (MB + 1))
    with pytest.raises(PermanentJobFailure, match=re.escape("MAX_FILE_SIZE is 1.0 MiB")):
        get(str(source), work)
    assert list(work.iterdir()) == []


def test_missing_local_file_is_permanent(tmp_path, work):
    with pytest.raises(PermanentJobFailure, match="no such file"):
        get(str(tmp_path / "gone.jpg"), work)


def test_http_download_streams_to_the_work_area(file_server, work):
    body = os.urandom(300_000)
    for how in ("plain", "chunked"):
        fetched = get(file_server.add(f"/{how}.bin", body, how=how), work)
        assert fetched.path.read_bytes() == body and fetched.size == len(body)


@pytest.mark.parametrize("how", ["plain", "chunked"])
def test_oversized_download_is_cut_off_at_the_limit(file_server, work, how):
    url = file_server.add("/huge.bin", b"\0" * (3 * MB), how=how)
    with pytest.raises(PermanentJobFailure, match="MAX_FILE_SIZE"):
        get(url, work)
    assert list(work.iterdir()) == []  # the partial file is gone


def test_server_that_understates_its_length_gives_the_shorter_file(file_server, work):
    # the size check against the upload's declared size (in the job) catches this lie
    fetched = get(file_server.add("/lie.bin", b"a" * 1000, how="understated"), work)
    assert fetched.size == 500


def test_http_errors_are_classified(file_server, work, closed_port):
    with pytest.raises(PermanentJobFailure, match="HTTP 404"):
        get(file_server.add("/nope", b"", status=404), work)
    with pytest.raises(TransientJobFailure, match="HTTP 503"):
        get(file_server.add("/busy", b"", status=503), work)
    with pytest.raises(TransientJobFailure, match="HTTP 429"):
        get(file_server.add("/slow-down", b"", status=429), work)
    with pytest.raises(TransientJobFailure, match="could not fetch"):
        get(f"http://127.0.0.1:{closed_port}/a.jpg", work)


def test_silent_server_times_out_as_transient(silent_port, work):
    with pytest.raises(TransientJobFailure, match="could not fetch"):
        get(f"http://127.0.0.1:{silent_port}/a.jpg", work, timeout=0.3)


def test_urls_in_messages_lose_credentials_and_query():
    assert (
        safe_url("https://user:pw@cdn.example:8443/u/1.jpg?X-Amz-Signature=abc#f")
        == "https://cdn.example:8443/u/1.jpg"
    )
