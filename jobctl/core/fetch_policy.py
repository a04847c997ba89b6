"""Where jobctl may fetch a file from, for whoever can enqueue one: the fetch policy.

Anyone allowed to enqueue a file job names the source, and the worker reads it with its own
network position and file permissions. Without a policy that turns every enqueuer into a reader
of the worker's files (`/etc/shadow`) and of its network: cloud metadata at 169.254.169.254, an
admin page on loopback, a port scan of the private network told apart by its error messages.

The rules:

- http(s) only to public addresses. A host is resolved and refused if ANY of its addresses is
  loopback, private, link-local, multicast, shared (100.64/10, where some clouds keep metadata),
  reserved or unspecified, including such an IPv4 address inside IPv6 (mapped, 6to4, Teredo,
  NAT64). The connection then goes to one of exactly those checked addresses (see
  jobctl.core.http_client.fetch), so a name cannot resolve one way for the check and another way
  for the connection, and every redirect's connection is checked the same way.
- JOBCTL_FETCH_ALLOW_HOSTS lets named hosts and address ranges through (an internal CDN).
- Local paths only inside JOBCTL_FILE_ROOTS (default: the storage folder and uploads/ in the
  state folder), judged after every symlink is resolved, so a link cannot lead out.
- Every refusal, and (in the worker) every failure to get an answer at all, reads the same
  "could not fetch <url>": a closed port, a filtered one and a refused address are alike.

The edge (enqueue, schedule add) checks what it can without DNS (`check_url`: literal addresses in
any notation, `localhost`) and the path rules; the worker checks everything again when it fetches.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = ("http", "https")
HINT = (
    "jobctl fetches public http(s) URLs and files under JOBCTL_FILE_ROOTS; "
    "an internal host must be listed in JOBCTL_FETCH_ALLOW_HOSTS"
)
# Ranges `is_global` lets through on this Python that are no destination: IPv4-compatible IPv6
# (deprecated, ::127.0.0.1 would reach loopback on some stacks) and the IPv6 discard prefix.
EXTRA_REFUSED = (ipaddress.ip_network("::/96"), ipaddress.ip_network("100::/64"))
NAT64 = ipaddress.ip_network("64:ff9b::/96")
LOCAL_NAMES = ("localhost", "localhost.localdomain")


class Refused(Exception):
    """The policy refuses this source. `reason` is for the operator's log, never for the enqueuer,
    who only ever sees `could_not_fetch(url)`."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def could_not_fetch(url: str) -> str:
    """The one message an enqueuer gets for a source jobctl will not or could not read."""
    return f"could not fetch {safe_url(url)}"


def safe_url(url: str) -> str:
    """The URL without credentials or query (signed URLs carry their secret in the query)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:  # an unparseable port or bracket: nothing in it is worth showing
        return "(an invalid URL)"
    return parts._replace(netloc=host, query="", fragment="").geturl()


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = [address.ipv4_mapped, address.sixtofour]
    if address.teredo:
        found += list(address.teredo)
    if address in NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


def is_public(address: Address) -> bool:
    """True for an address on the public internet; see the module docstring for what is not."""
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in EXTRA_REFUSED):
            return False
        return all(is_public(inner) for inner in _embedded_ipv4(address))
    return True


def literal_address(host: str) -> Address | None:
    """The address a host names without DNS, in any notation the resolver accepts (127.1,
    2130706433, 0x7f.0.0.1, ::ffff:127.0.0.1), or None for a name."""
    try:
        info = socket.getaddrinfo(host.strip("[]"), None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(str(info[0][4][0]).split("%")[0])  # str: AF_INET(6) hosts are text


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


@dataclass(frozen=True)
class FetchPolicy:
    allow_names: frozenset[str] = frozenset()
    allow_networks: tuple[Network, ...] = ()
    roots: tuple[Path, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any) -> FetchPolicy:
        names, networks = [], []
        for entry in settings.fetch_allow_hosts:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                names.append(entry.lower().rstrip("."))
        roots = settings.file_roots or (settings.storage_path, settings.home_path / "uploads")
        return cls(
            frozenset(names),
            tuple(networks),
            tuple(Path(root).expanduser().resolve() for root in roots),
        )

    def _name_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.allow_names

    def check_address(self, host: str, address: Address) -> None:
        if self._name_allowed(host) or any(address in network for network in self.allow_networks):
            return
        if not is_public(address):
            named = "" if host.strip("[]") == str(address) else f"{host} resolves to "
            raise Refused(f"{named}{address}, which is not a public address")

    def check_url(self, url: str) -> None:
        """What can be judged without DNS: the scheme, a host that is an address or a local name."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 - read for its ValueError on a bad port
        except ValueError:
            raise Refused("the URL does not parse") from None
        if parts.scheme not in SCHEMES:
            raise Refused(f"scheme {parts.scheme!r} is not fetched")
        if not host:
            raise Refused("the URL has no host")
        if self._name_allowed(host):
            return
        address = literal_address(host)
        if address is not None:
            self.check_address(host, address)
        elif host.rstrip(".").lower() in LOCAL_NAMES or host.rstrip(".").lower().endswith(".localhost"):
            raise Refused(f"{host} is this machine")

    def resolve(self, host: str, port: int) -> list[str]:
        """Every address `host` resolves to, each checked (Refused if any one is refused: a name
        that mixes public and internal answers is not trusted with either)."""
        try:
            answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise Refused(f"{host} does not resolve: {exc}") from None
        addresses: list[str] = []
        for *_, sockaddr in answers:
            text = str(sockaddr[0]).split("%")[0]  # str: AF_INET(6) hosts are text
            self.check_address(host, ipaddress.ip_address(text))
            if text not in addresses:
                addresses.append(text)
        return addresses

    def local_file(self, path: Path) -> Path:
        """`path` with every symlink resolved, if that lies inside a root (Refused otherwise, whether
        or not it exists); FileNotFoundError only for a path inside a root."""
        absolute = Path(os.path.abspath(path))
        try:
            real = absolute.resolve(strict=True)
        except FileNotFoundError:
            real = None
        except OSError as exc:  # a symlink loop, a component that is no folder, no permission
            raise Refused(f"{absolute} cannot be resolved: {exc.strerror}") from None
        seen = real if real is not None else absolute.resolve(strict=False)
        if not any(_is_within(seen, root) for root in self.roots):
            raise Refused(f"{seen} is outside JOBCTL_FILE_ROOTS")
        if real is None:
            raise FileNotFoundError(str(absolute))
        return real
