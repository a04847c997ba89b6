"""Every outbound HTTP request jobctl makes goes through here: the payment providers, SendGrid, the
alert webhook and the file fetch.

Why httpx rather than urllib: one pooled client per process (keep-alive connections are reused
across charges and emails instead of a new TCP and TLS handshake per request), one timeout object
that bounds connect, send, read and the wait for a pooled connection, streamed reads that can stop
at a byte limit, and typed transport errors (timeout / connect / protocol) instead of a URLError
wrapping whatever happened. It is maintained, already in the tree (FastAPI's TestClient), and can
speak HTTP/2 once `h2` is installed.

What this module owns, so no caller has to get it right again:

- timeouts: every call has one (DEFAULT_TIMEOUT unless the caller says), never "wait forever";
- the pool: one httpx.Client per process. RQ forks a work horse per job; the child drops the
  parent's client at the fork and builds its own, so two processes never share a socket;
- redaction: a failure's message never carries a secret. The values of credential headers
  (Authorization, X-Api-Key, ...), the caller's own secrets, the request URL's password and its
  whole query (signed URLs and webhook tokens live there, under any name) are masked before any
  message leaves this module, then any URL left in it by the rule settings and logs follow
  (jobctl.config.mask_url); httpx's own request log line (which carries the full URL) is kept below INFO;
- redirects: followed only by `fetch` (the file fetch). An API answering 3xx means a wrong base
  URL to fix, and a redirected POST would be re-sent as a GET without its body;
- the fetch policy (jobctl.core.fetch_policy) for `fetch`, whose URL comes from whoever enqueued a
  file job: every connection, the first and each redirect's, goes to an address the policy checked
  in that same resolution (see _PolicyBackend); no proxy from the environment, which would resolve
  the name itself. The other calls go to URLs the operator configured and are not restricted.

An answer is returned whatever its status: what a status means is the caller's business. Only a
missing answer is raised, as an HTTPFailure subclass whose `reason` is one line, already redacted.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from jobctl.config import SECRET_MASK, mask_url
from jobctl.core.fetch_policy import FetchPolicy

# httpx's __init__ imports its command-line tool (httpx._main), which loads click and rich whenever
# they are installed (typer brings both), and headless modules must not load UI libraries. A None
# entry makes that import fail, and httpx falls back to its stub `main` as it does without the `cli`
# extra. Removed again right after, so an explicit `import httpx._main` elsewhere still works.
_HTTPX_CLI = "httpx._main"
_block_cli = "httpx" not in sys.modules and _HTTPX_CLI not in sys.modules
if _block_cli:
    sys.modules[_HTTPX_CLI] = None  # type: ignore[assignment]
import httpcore  # noqa: E402 - httpx's transport library (for the fetch policy), after the block too
import httpx  # noqa: E402 - after the block above, on purpose

if _block_cli and sys.modules.get(_HTTPX_CLI, 0) is None:
    del sys.modules[_HTTPX_CLI]

USER_AGENT = "jobctl"
DEFAULT_TIMEOUT = 30.0
MAX_BODY = 1024 * 1024  # an API answer is read up to this much; none of ours comes near it
CHUNK = 64 * 1024
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie"})
MAX_REDIRECTS = 5  # a CDN's signed-URL hop or two; a longer chain is a loop or a maze

# httpx logs every request at INFO with its full URL, query and all: a webhook token or a signed
# URL's signature would reach the worker log. Keep it quiet unless someone configured it on purpose.
for _name in ("httpx", "httpcore"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)


class HTTPFailure(Exception):
    """No usable HTTP answer came back. `reason` is one line with secrets masked; `kind` names what
    httpx saw (ConnectError, ReadTimeout, RemoteProtocolError, ...)."""

    def __init__(self, reason: str, kind: str):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


class TimedOut(HTTPFailure):
    """Connecting, sending or reading took longer than the timeout: the request may have arrived."""


class Unreachable(HTTPFailure):
    """No connection was made (refused, unknown host, no route): nothing was sent."""


class BrokenOff(HTTPFailure):
    """The exchange failed half-way (reset, closed early, a garbled answer): the request may have arrived."""


class Unsendable(HTTPFailure):
    """The request cannot be sent at all (a bad URL or scheme, a header with a newline): our side is wrong."""


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str  # the reason phrase, "" when the server sent none
    headers: httpx.Headers  # case-insensitive
    body: bytes  # at most the max_body the caller allowed


_client: httpx.Client | None = None
_lock = threading.Lock()
_inherited: list[httpx.Client] = []


def _forget_parent_client() -> None:
    # Closing the parent's client here could write a TLS close_notify on sockets the parent still
    # uses; keeping a reference stops garbage collection doing the same. The horse is short-lived.
    global _client, _lock
    if _client is not None:
        _inherited.append(_client)
    _client, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_parent_client)


def client() -> httpx.Client:
    """This process's pooled client (created on first use); per-request timeouts are passed per call."""
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = httpx.Client(timeout=DEFAULT_TIMEOUT, headers={"User-Agent": USER_AGENT})
    return _client


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` on one line with every secret (3 characters or more) masked, longest first, and any URL
    in it masked by the rule every setting and log line follows (jobctl.config.mask_url)."""
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, SECRET_MASK)
    return mask_url(" ".join(text.split()))


def secrets_of(url: str, headers: Mapping[str, str] | None, extra: Iterable[str] = ()) -> list[str]:
    """What must never appear in a message about this request: credential header values (whole, the
    token after "Bearer"/"Basic", and as Python would escape them in an error), the URL's password
    and query, and the caller's own secrets."""
    found = [s for s in extra if s]
    for name, value in (headers or {}).items():
        if name.lower() in CREDENTIAL_HEADERS and value:
            for form in (value, value.split()[-1] if value.split() else value):
                found += [form, repr(form)[1:-1], repr(form.encode("utf-8", "replace"))[2:-1]]
    try:
        parts = urlsplit(url)
        found += [parts.password or "", parts.query]
    except ValueError:  # an unparseable URL has no parts to hide; the caller's message masks it
        pass
    return found


def _reason(exc: BaseException, secrets: list[str]) -> str:
    """The OS's words if a socket error lies under the httpx error ("Connection refused"), else its text."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.strerror:
            return redact(cause.strerror, secrets)
        cause = cause.__cause__ or cause.__context__
    return redact(str(exc), secrets) or type(exc).__name__


def _failure(exc: Exception, secrets: list[str]) -> HTTPFailure:
    reason, kind = _reason(exc, secrets), type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return TimedOut(reason, kind)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError | httpx.InvalidURL):
        return Unsendable(reason, kind)
    if isinstance(exc, httpx.ConnectError):
        return Unreachable(reason, kind)
    return BrokenOff(reason, kind)


@contextmanager
def stream(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    secrets: Iterable[str] = (),
) -> Iterator[httpx.Response]:
    """Send a request and yield its response with the body unread (read it with iter_bytes).

    A failure while sending or while the caller reads the body is raised as an HTTPFailure."""
    with _streamed(
        client(), method, url, headers, content, timeout, secrets, follow_redirects=False
    ) as response:
        yield response


class _PolicyBackend(httpcore.SyncBackend):
    """Connects where the policy allows: the host is resolved here, refused (fetch_policy.Refused)
    unless every address passes, and the socket goes to one of those very addresses, so no second
    lookup can answer differently (DNS rebinding). httpcore still knows the request by its name,
    so the Host header, TLS SNI and the certificate check all use the name, not the address."""

    def __init__(self, policy: FetchPolicy):
        self.policy = policy

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        failure: Exception | None = None
        for address in self.policy.resolve(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:  # try the next checked one
                failure = exc
        raise failure or httpcore.ConnectError(f"{host} has no address")

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not fetched")


class _PolicyTransport(httpx.HTTPTransport):
    def __init__(self, policy: FetchPolicy):
        context = httpx.create_ssl_context()
        super().__init__(verify=context, trust_env=False)
        # httpx takes no network backend, so the pool it built is swapped for one that connects
        # through the policy; everything else (the TLS context, limits) is httpx's default
        self._pool = httpcore.ConnectionPool(ssl_context=context, network_backend=_PolicyBackend(policy))


@contextmanager
def fetch(
    url: str,
    *,
    policy: FetchPolicy,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Iterator[httpx.Response]:
    """GET a URL someone else chose, under `policy`, following up to MAX_REDIRECTS redirects; yield
    the response with the body unread. Raises fetch_policy.Refused when the policy refuses the URL or
    any hop, an HTTPFailure when no answer came. A client of its own per call: a pooled connection
    is keyed by host name, and one checked under another policy must not be reused."""
    with (
        httpx.Client(
            transport=_PolicyTransport(policy),
            headers={"User-Agent": USER_AGENT},
            max_redirects=MAX_REDIRECTS,
            trust_env=False,
        ) as pinned,
        _streamed(pinned, "GET", url, headers, None, timeout, (), follow_redirects=True) as response,
    ):
        yield response


@contextmanager
def _streamed(
    sender: httpx.Client,
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    content: bytes | None,
    timeout: float,
    secrets: Iterable[str],
    *,
    follow_redirects: bool,
) -> Iterator[httpx.Response]:
    masked = secrets_of(url, headers, secrets)
    try:
        request = sender.build_request(method, url, headers=headers, content=content, timeout=timeout)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeEncodeError) as exc:
        raise Unsendable(_reason(exc, masked), type(exc).__name__) from None
    try:
        response = sender.send(request, stream=True, follow_redirects=follow_redirects)
        try:
            yield response
        finally:  # an unread rest is dropped with its connection, not read to keep it pooled
            response.close()
    except (httpx.TransportError, httpx.DecodingError, httpx.TooManyRedirects, httpx.InvalidURL) as exc:
        raise _failure(exc, masked) from None


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    secrets: Iterable[str] = (),
    max_body: int = MAX_BODY,
) -> Answer:
    """Send a request and read its answer (at most `max_body` bytes of it), whatever the status."""
    with stream(method, url, headers=headers, content=content, timeout=timeout, secrets=secrets) as response:
        body = bytearray()
        for chunk in response.iter_bytes(CHUNK):
            body += chunk
            if len(body) >= max_body:
                break
        status, reason, headers = response.status_code, response.reason_phrase, response.headers
    return Answer(status, reason, headers, bytes(body[:max_body]))
