"""core.connection against a private TLS server (rediss://) and a private ACL server: certificate
verification on by default, a clear line and hint for each way the handshake or the ACL refuses."""

from __future__ import annotations

import pytest
import redis

from jobctl.config import load_settings, mask_url
from jobctl.core import keyspace
from jobctl.core.connection import connect, connect_if_running, redis_url
from jobctl.errors import ConfigError, ExitCode, JobctlError, RedisUnavailable
from tests.conftest import KEY_PREFIX
from tests.redis_tls import ACL_PASSWORD, acl_server, make_pki, tls_server


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls(tmp_path_factory, pki):
    """TLS only (no plain port), client certificates optional."""
    server = tls_server(tmp_path_factory.mktemp("tls"), pki, require_client_cert=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mtls(tmp_path_factory, pki):
    """TLS only, a client certificate signed by the CA required."""
    server = tls_server(tmp_path_factory.mktemp("mtls"), pki, require_client_cert=True)
    yield server
    server.stop()


def settings_for(monkeypatch, url: str, **files: str):
    monkeypatch.setenv("REDIS_URL", url)
    for name, value in files.items():
        monkeypatch.setenv(f"JOBCTL_REDIS_{name.upper()}_FILE", str(value))
    return load_settings()


def one_line(exc: JobctlError) -> None:
    assert "\n" not in str(exc) and exc.hint and "\n" not in exc.hint


def test_rediss_with_the_ca_setting_connects_and_verifies(monkeypatch, tls, pki):
    settings = settings_for(monkeypatch, f"rediss://127.0.0.1:{tls.port}/0", ca=pki.ca)
    client = connect(settings)
    try:
        key = f"{KEY_PREFIX}:tls-probe"
        client.set(key, b"over tls", ex=60)
        assert client.get(key) == b"over tls"
        pool_kwargs = client.connection_pool.connection_kwargs
        assert pool_kwargs["ssl_ca_certs"] == str(pki.ca)
        # redis-py's defaults, which jobctl leaves on: a chain to the CA, and the host name checked
        assert pool_kwargs.get("ssl_cert_reqs", "required") == "required"
        assert pool_kwargs.get("ssl_check_hostname", True) is True
        assert type(client.connection_pool.get_connection()).__name__ == "SSLConnection"
    finally:
        client.close()


def test_an_unknown_ca_is_refused_with_a_hint_exit_3(monkeypatch, tls, pki):
    for files in ({}, {"ca": pki.other_ca}):  # the system's CAs, then a CA that signed something else
        settings = settings_for(monkeypatch, f"rediss://127.0.0.1:{tls.port}/0", **files)
        with pytest.raises(RedisUnavailable) as caught:
            connect(settings)
        assert caught.value.code == ExitCode.UNREACHABLE == 3
        assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
        assert "JOBCTL_REDIS_CA_FILE" in caught.value.hint
        one_line(caught.value)
        assert connect_if_running(settings) is None  # completion stays quiet


def test_a_certificate_for_another_host_is_refused(monkeypatch, tls, pki):
    # the server's certificate names 127.0.0.1 only: "localhost" reaches the same server by another name
    settings = settings_for(monkeypatch, f"rediss://localhost:{tls.port}/0", ca=pki.ca)
    with pytest.raises(RedisUnavailable) as caught:
        connect(settings)
    assert caught.value.code == 3 and "mismatch" in str(caught.value)
    assert "does not name the host" in caught.value.hint
    one_line(caught.value)


def test_a_server_requiring_a_client_certificate(monkeypatch, mtls, pki):
    url = f"rediss://127.0.0.1:{mtls.port}/0"
    with pytest.raises(RedisUnavailable) as caught:
        connect(settings_for(monkeypatch, url, ca=pki.ca))
    assert caught.value.code == 3 and "JOBCTL_REDIS_CERT_FILE" in caught.value.hint
    one_line(caught.value)
    settings = settings_for(monkeypatch, url, ca=pki.ca, cert=pki.client_cert, key=pki.client_key)
    client = connect(settings)
    try:
        assert client.ping() is True
    finally:
        client.close()


def test_tls_files_need_rediss_and_go_together(monkeypatch, tls, pki):
    with pytest.raises(ConfigError) as caught:
        connect(settings_for(monkeypatch, f"redis://127.0.0.1:{tls.port}/0", ca=pki.ca))
    assert "rediss://" in str(caught.value) and caught.value.code == 2
    monkeypatch.delenv("JOBCTL_REDIS_CA_FILE")
    with pytest.raises(ConfigError):
        connect(settings_for(monkeypatch, f"rediss://127.0.0.1:{tls.port}/0", cert=pki.client_cert))


def test_plain_redis_url_on_a_tls_port_says_so(monkeypatch, tls):
    with pytest.raises(RedisUnavailable) as caught:
        connect(settings_for(monkeypatch, f"redis://127.0.0.1:{tls.port}/0"))
    assert caught.value.code == 3 and "rediss://" in caught.value.hint
    one_line(caught.value)


def test_passwords_are_masked_in_rediss_urls(monkeypatch, tls, pki):
    url = f"rediss://jobctl:hunter2-secret@127.0.0.1:{tls.port}/0"
    assert "hunter2-secret" not in mask_url(url) and mask_url(url).startswith("rediss://jobctl:")
    settings = settings_for(monkeypatch, url)
    assert "hunter2-secret" not in redis_url(settings)
    with pytest.raises(RedisUnavailable) as caught:  # no CA: the handshake fails, the URL is shown
        connect(settings)
    assert "hunter2-secret" not in str(caught.value) + caught.value.hint
    assert f"127.0.0.1:{tls.port}" in str(caught.value)
    shown = {row["env"]: row["value"] for row in settings.describe()}
    assert "hunter2-secret" not in shown["REDIS_URL"]


def test_acl_user_wrong_password_and_missing_permission(monkeypatch, tmp_path):
    rule = keyspace.acl_rule("jobctl", ACL_PASSWORD, KEY_PREFIX) + " -eval -evalsha"
    server = acl_server(tmp_path / "acl", rule)
    try:
        with pytest.raises(RedisUnavailable) as caught:
            connect(settings_for(monkeypatch, f"redis://jobctl:wrong-pass@127.0.0.1:{server.port}/0"))
        assert "wrong-pass" not in str(caught.value) and caught.value.code == 3
        client = connect(
            settings_for(monkeypatch, f"redis://jobctl:{ACL_PASSWORD}@127.0.0.1:{server.port}/0")
        )
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.eval("return 1", 0)
        with pytest.raises(redis.exceptions.NoPermissionError):  # outside the prefix
            client.get("someone-else:key")
        with pytest.raises(redis.exceptions.NoPermissionError):  # @dangerous
            client.flushall()
        client.close()
    finally:
        server.stop()


def test_redis_py_url_parameters_work_and_are_shown_unmasked(monkeypatch, tls, pki):
    url = f"rediss://127.0.0.1:{tls.port}/0?ssl_ca_certs={pki.ca}"
    settings = settings_for(monkeypatch, url)
    assert redis_url(settings) == url  # a path is no secret: shown as it is
    client = connect(settings)
    try:
        assert client.ping() is True
    finally:
        client.close()
