"""Settings: command-line flag > environment > .env > jobctl.toml > built-in defaults.

Nothing is read at import time; `load_settings()` does all the I/O and records where each value
came from so `jobctl config show` can tell the admin which layer to edit.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

from jobctl.durations import setting_seconds
from jobctl.errors import ConfigError

SECRET_MASK = "********"
# what the file pipeline can process: the images it decodes (jobctl.jobs.files.imaging) and PDF;
# jobctl.jobs.files.filetypes.EXTENSIONS names the same types
FILE_PIPELINE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/avif", "application/pdf")


def _parse_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("expected an integer")
    if isinstance(raw, int):
        return raw
    text = str(raw).strip().replace("_", "")
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    if text[-1:].lower() in units:
        return int(float(text[:-1]) * units[text[-1].lower()])
    return int(text)


def _parse_duration(raw: Any) -> int:
    """Whole seconds in the one duration grammar (90, 90s, 15m, 1h30m, 30d; jobctl.durations)."""
    return setting_seconds(raw)


def _parse_list(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, list | tuple):
        return tuple(str(x).strip() for x in raw if str(x).strip())
    return tuple(x.strip() for x in str(raw).split(",") if x.strip())


def parse_sizes(raw: Any) -> tuple[tuple[int, int], ...]:
    """ "150x150,300x300" -> ((150, 150), (300, 300)); a bare "150" means 150x150."""
    sizes = []
    for item in _parse_list(raw):
        width, _, height = item.lower().partition("x")
        try:
            size = (int(width), int(height or width))
        except ValueError:
            raise ValueError(f"{item!r} is not a size like 300x300") from None
        if min(size) <= 0 or max(size) > 10_000:
            raise ValueError(f"{item!r} must be between 1x1 and 10000x10000")
        sizes.append(size)
    if not sizes:
        raise ValueError("give at least one size, e.g. 150x150,300x300")
    return tuple(sizes)


def parse_provider_limits(raw: Any) -> tuple[tuple[str, int], ...]:
    """ "stripe=5,crypto=8" -> (("stripe", 5), ("crypto", 8)); a toml table works too."""
    items = raw.items() if isinstance(raw, Mapping) else (i.partition("=")[::2] for i in _parse_list(raw))
    limits = []
    for raw_name, count in items:
        name = str(raw_name).strip()
        if name not in ("stripe", "yookassa", "crypto"):
            raise ValueError(f"unknown payment provider {name!r} (stripe, yookassa, crypto)")
        try:
            limit = int(count)
        except (TypeError, ValueError):
            raise ValueError(f"{name}={count!r}: attempts must be a whole number") from None
        if not 1 <= limit <= 100:
            raise ValueError(f"{name}: attempts must be between 1 and 100")
        limits.append((name, limit))
    return tuple(limits)


def parse_rates(raw: Any) -> tuple[int, ...]:
    """ "10%,3%" or "1000,300" (basis points) -> (1000, 300): level 1 first."""
    rates = []
    for item in raw if isinstance(raw, list | tuple) else _parse_list(raw):
        text = str(item).strip()
        try:
            bps = round(float(text[:-1]) * 100) if text.endswith("%") else int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a rate like 10% or 1000 (basis points)") from None
        if not 0 <= bps <= 10_000:
            raise ValueError(f"{text!r} must be between 0% and 100%")
        rates.append(bps)
    if len(rates) > 10:
        raise ValueError("at most 10 levels")
    return tuple(rates)


def _check_percent(value: int) -> None:
    if not 1 <= value <= 100:
        raise ValueError("must be between 1 and 100")


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _parse_percent(raw: Any) -> float:
    return float(str(raw).strip().rstrip("%"))


def _check_percent_range(value: float) -> None:
    if not 0 <= value <= 100:
        raise ValueError("must be between 0% and 100%")


def _parse_str(raw: Any) -> str:
    return str(raw)


SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
SENTINEL_EXAMPLE = "e.g. redis+sentinel://h1:26379,h2:26379,h3:26379/mymaster/0"


@dataclass(frozen=True)
class SentinelTarget:
    """A `redis+sentinel://[user:password@]host[:port],host[:port]/master[/db]` URL, read: the
    Sentinels to ask, the master's name, and what to send the master. The user and password are the
    master's; the Sentinels' own (when they have requirepass) come as ?sentinel_password= and
    ?sentinel_username= (the spelling of the redis-sentinel-url and Lettuce URLs)."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None


def parse_sentinel_url(value: str) -> SentinelTarget:
    """A redis+sentinel:// URL read into a SentinelTarget; ValueError naming what is wrong."""
    parts = urlsplit(value)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"must start with {SENTINEL_SCHEME}://, {SENTINEL_EXAMPLE}")
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    sentinels = []
    for address in (a.strip() for a in hostlist.split(",")):
        if address.startswith("["):  # [::1]:26379
            host, _, port = address[1:].partition("]")
            port = port.removeprefix(":")
        else:
            host, _, port = address.partition(":")
        if not host:
            raise ValueError(f"names a Sentinel without a host, {SENTINEL_EXAMPLE}")
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"has a Sentinel port {port!r} that is not a number between 1 and 65535")
        sentinels.append((host, int(port) if port else SENTINEL_PORT))
    master, _, database = parts.path.removeprefix("/").partition("/")
    if not master:
        raise ValueError(f"names no master (the name Sentinel monitors), {SENTINEL_EXAMPLE}")
    query = parse_qs(parts.query)
    database = query.get("db", [database.strip("/")])[-1]
    if database and not database.isdigit():
        raise ValueError(f"has a database number {database!r} that is not a whole number, {SENTINEL_EXAMPLE}")
    return SentinelTarget(
        sentinels=tuple(sentinels),
        master=unquote_plus(master),
        db=int(database or 0),
        username=unquote_plus(username) or None,
        password=unquote_plus(password) or None,
        sentinel_username=query.get("sentinel_username", [None])[-1],
        sentinel_password=query.get("sentinel_password", [None])[-1],
    )


def _check_redis_url(value: str) -> None:
    """What redis-py would misread, refused before connecting: it skips a database number it cannot
    read, and a bad host or port would only show as 'cannot reach Redis'."""
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme == SENTINEL_SCHEME:
        parse_sentinel_url(value)
        return
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise ValueError(f"must start with redis://, rediss://, unix:// or {SENTINEL_SCHEME}://")
    example = "e.g. redis://127.0.0.1:6379/0"
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("needs a socket path, e.g. unix:///run/redis/redis.sock")
        database = ""
    else:
        if not parts.hostname:
            raise ValueError(f"has no host, {example}")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"has a port that is not a number between 1 and 65535, {example}")
        database = parts.path.removeprefix("/")
    database = parse_qs(parts.query).get("db", [database])[-1]
    if database and not database.isdigit():
        raise ValueError(f"has a database number {database!r} that is not a whole number, {example}")


# a DNS name (RFC 1123 labels) or an IPv4 address: what `hostname` prints, and what worker names carry
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")


def _check_hostname(value: str) -> None:
    """Empty (this machine's name), else a host name: worker names and `worker list` show it, and
    the embedded server remembers it, so it must not hold ':' (the name separator) or spaces."""
    if value and (len(value) > 253 or not _HOST_NAME.fullmatch(value)):
        raise ValueError("must be a host name: letters, digits, '-' and '.', e.g. worker-2.example.com")


def _check_readable_file(value: str) -> None:
    """A certificate or key file named by a setting: checked now, not first at the TLS handshake."""
    if value and not Path(value).expanduser().is_file():
        raise ValueError(f"{value!r} is not a file")


def _check_database_url(value: str) -> None:
    if value and urlsplit(value).scheme.split("+")[0] not in {"sqlite", "postgresql", "postgres"}:
        raise ValueError("must be a sqlite:/// or postgresql:// URL")


def _check_choice(*choices: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")

    return check


def _check_positive(value: int) -> None:
    if value <= 0:
        raise ValueError("must be a positive number")


def _check_non_negative(value: int) -> None:
    if value < 0:
        raise ValueError("must be 0 or more")


def _check_http_url(value: str) -> None:
    if value and urlsplit(value).scheme not in {"http", "https"}:
        raise ValueError("must be an http:// or https:// URL")


def _check_addresses(value: tuple[str, ...]) -> None:
    for address in value:
        local, at, domain = address.rpartition("@")
        if not at or not local or "." not in domain or any(c.isspace() for c in address):
            raise ValueError(f"{address!r} is not an email address")


def _check_encryption_keys(value: tuple[str, ...]) -> None:
    from cryptography.fernet import Fernet  # lazy: cryptography (~9 ms) only when keys are set

    for n, key in enumerate(value, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):  # binascii.Error is a ValueError
            raise ValueError(
                f"key {n} of {len(value)} is not a Fernet key (32 url-safe base64-encoded bytes); "
                "make one with `jobctl keys generate`"
            ) from None


def _check_fetch_hosts(value: tuple[str, ...]) -> None:
    for entry in value:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            if not entry or any(c in entry for c in "/:@ ") or entry.startswith("."):
                raise ValueError(f"{entry!r} is neither a host name nor an address or CIDR range") from None


def _check_absolute_paths(value: tuple[str, ...]) -> None:
    for entry in value:
        if not Path(entry).expanduser().is_absolute():
            raise ValueError(f"{entry!r} is not an absolute path")


def _check_file_types(value: tuple[str, ...]) -> None:
    for mime in value:
        if mime not in FILE_PIPELINE_TYPES:
            raise ValueError(f"includes {mime!r}; the file pipeline handles {', '.join(FILE_PIPELINE_TYPES)}")


def _check_folder(value: str) -> None:
    """A state folder jobctl creates as needed: it, or the nearest part of it that exists, is a folder."""
    path = Path(value).expanduser()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing == path and not path.is_dir():
        raise ValueError("is not a folder")
    if existing is not None and not existing.is_dir():
        raise ValueError(f"is inside {existing}, which is not a folder")


def parse_memory_limit(raw: Any) -> str:
    """ "50%" (of this machine's RAM), "2g", "512m" or bytes; "0" for no limit. Kept as text: a share
    of RAM is worked out on the machine that starts the server (memory_limit_bytes)."""
    text = str(raw).strip().lower().removesuffix("b")
    memory_limit_bytes(text)
    return text


def memory_limit_bytes(spec: str) -> int:
    if spec.endswith("%"):
        try:
            share = float(spec[:-1])
        except ValueError:
            raise ValueError("expected a share of RAM like 50%") from None
        if not 0 < share <= 100:
            raise ValueError("a share of RAM must be between 1% and 100%")
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * share / 100)
    try:
        size = _parse_int(spec)
    except ValueError:
        raise ValueError("expected a share of RAM like 50%, a size like 2g or 512m, or 0") from None
    if size < 0:
        raise ValueError("must be 0 (no limit) or more")
    return size


def _check_port(value: int) -> None:
    if not 0 < value < 65536:
        raise ValueError("must be a port number between 1 and 65535")


@dataclass(frozen=True)
class Field:
    name: str
    env: str
    default: Any
    parse: Callable[[Any], Any] = _parse_str
    check: Callable[[Any], None] | None = None
    secret: bool = False
    doc: str = ""


FIELDS: tuple[Field, ...] = (
    Field(
        "redis_url",
        "REDIS_URL",
        "",
        check=_check_redis_url,
        doc="Redis server to use; unset starts jobctl's embedded server",
    ),
    Field("redis_password", "REDIS_PASSWORD", "", secret=True, doc="password applied to REDIS_URL"),
    Field(
        "redis_ca_file",
        "JOBCTL_REDIS_CA_FILE",
        "",
        check=_check_readable_file,
        doc="PEM file of the CA that signed a rediss:// server's certificate (else the system's CAs)",
    ),
    Field(
        "redis_cert_file",
        "JOBCTL_REDIS_CERT_FILE",
        "",
        check=_check_readable_file,
        doc="PEM client certificate for a rediss:// server that asks for one (with JOBCTL_REDIS_KEY_FILE)",
    ),
    Field(
        "redis_key_file",
        "JOBCTL_REDIS_KEY_FILE",
        "",
        check=_check_readable_file,
        doc="PEM private key of JOBCTL_REDIS_CERT_FILE",
    ),
    Field(
        "encryption_keys",
        "JOBCTL_ENCRYPTION_KEYS",
        (),
        _parse_list,
        _check_encryption_keys,
        secret=True,
        doc="comma-separated Fernet keys: job data at rest is encrypted with the first, read with any",
    ),
    Field(
        "home",
        "JOBCTL_HOME",
        "",
        check=_check_folder,
        doc="state folder (embedded server, outbox, storage)",
    ),
    Field(
        "email_provider",
        "EMAIL_PROVIDER",
        "outbox",
        check=_check_choice("outbox", "smtp", "sendgrid"),
        doc="outbox (.eml files in the state folder), smtp or sendgrid",
    ),
    Field("email_from", "EMAIL_FROM", "Marketplace <no-reply@marketplace.local>", doc="sender address"),
    Field("smtp_host", "SMTP_HOST", "localhost", doc="SMTP server host"),
    Field("smtp_port", "SMTP_PORT", 587, _parse_int, _check_port, doc="SMTP server port"),
    Field("smtp_user", "SMTP_USER", "", doc="SMTP user name (empty: no AUTH)"),
    Field("smtp_password", "SMTP_PASSWORD", "", secret=True, doc="SMTP password"),
    Field(
        "smtp_security",
        "JOBCTL_SMTP_SECURITY",
        "starttls",
        check=_check_choice("none", "starttls", "ssl"),
        doc="none, starttls or ssl",
    ),
    Field(
        "smtp_timeout", "JOBCTL_SMTP_TIMEOUT", 30, _parse_int, _check_positive, doc="SMTP timeout, seconds"
    ),
    Field("sendgrid_api_key", "SENDGRID_API_KEY", "", secret=True, doc="SendGrid API key"),
    Field(
        "sendgrid_url",
        "JOBCTL_SENDGRID_URL",
        "https://api.sendgrid.com",
        check=_check_http_url,
        doc="SendGrid API base URL (tests point it at a local server)",
    ),
    Field("templates_dir", "JOBCTL_TEMPLATES_DIR", "", doc="extra email templates, overriding built-ins"),
    Field(
        "max_attachment_size",
        "JOBCTL_MAX_ATTACHMENT_SIZE",
        10 * 1024**2,
        _parse_int,
        _check_positive,
        doc="largest email attachment, bytes (k/m/g suffixes allowed)",
    ),
    Field(
        "max_file_size",
        "MAX_FILE_SIZE",
        100 * 1024**2,
        _parse_int,
        _check_positive,
        doc="largest file the file-processing queue accepts, bytes",
    ),
    Field(
        "allowed_file_types",
        "ALLOWED_FILE_TYPES",
        ("image/jpeg", "image/png", "image/webp", "image/gif", "application/pdf"),
        _parse_list,
        _check_file_types,
        doc="MIME types the file-processing queue accepts",
    ),
    Field(
        "database_url",
        "DATABASE_URL",
        "",
        check=_check_database_url,
        doc="marketplace data store: sqlite:///path or postgresql://...; unset: jobctl.db in the state dir",
    ),
    Field("stripe_api_key", "STRIPE_API_KEY", "", secret=True, doc="Stripe secret key (payment retries)"),
    Field(
        "stripe_url",
        "JOBCTL_STRIPE_URL",
        "https://api.stripe.com",
        check=_check_http_url,
        doc="Stripe API base URL (tests point it at a local server)",
    ),
    Field("yookassa_shop_id", "YOOKASSA_SHOP_ID", "", doc="YooKassa shop id"),
    Field("yookassa_secret_key", "YOOKASSA_SECRET_KEY", "", secret=True, doc="YooKassa secret key"),
    Field(
        "yookassa_url",
        "JOBCTL_YOOKASSA_URL",
        "https://api.yookassa.ru",
        check=_check_http_url,
        doc="YooKassa API base URL",
    ),
    Field("crypto_api_key", "CRYPTO_API_KEY", "", secret=True, doc="crypto payment gateway API key"),
    Field(
        "crypto_url",
        "JOBCTL_CRYPTO_URL",
        "",
        check=_check_http_url,
        doc="crypto payment gateway base URL (its invoice-status API)",
    ),
    Field(
        "payment_timeout",
        "JOBCTL_PAYMENT_TIMEOUT",
        30,
        _parse_duration,
        _check_positive,
        doc="seconds to wait on a payment provider",
    ),
    Field(
        "payment_attempts",
        "JOBCTL_PAYMENT_ATTEMPTS",
        (("stripe", 5), ("yookassa", 5), ("crypto", 8)),
        parse_provider_limits,
        doc="attempts per provider before a payment retry gives up, provider=N,...",
    ),
    Field(
        "commission_rates",
        "JOBCTL_COMMISSION_RATES",
        (1000, 300),
        parse_rates,
        doc="referral commission per level, level 1 first: percentages (10%,3%) or basis points",
    ),
    Field(
        "shop_url",
        "JOBCTL_SHOP_URL",
        "https://marketplace.example",
        check=_check_http_url,
        doc="the marketplace's address, for links in customer emails (receipts, declined payments)",
    ),
    Field(
        "storage_dir",
        "JOBCTL_STORAGE_DIR",
        "",
        check=_check_folder,
        doc="where processed files go, named by content hash (default: storage/ in the state folder)",
    ),
    Field(
        "virus_scanner",
        "JOBCTL_VIRUS_SCANNER",
        "builtin",
        check=_check_choice("builtin", "clamd"),
        doc="builtin (EICAR plus a SHA-256 blocklist) or clamd (a ClamAV daemon)",
    ),
    Field(
        "clamd_address",
        "JOBCTL_CLAMD_ADDRESS",
        "/var/run/clamav/clamd.ctl",
        doc="clamd's unix socket path, or host:port",
    ),
    Field(
        "clamd_timeout",
        "JOBCTL_CLAMD_TIMEOUT",
        120,
        _parse_duration,
        _check_positive,
        doc="seconds to wait on clamd (connecting, streaming, and its verdict on a big file)",
    ),
    Field(
        "virus_blocklist",
        "JOBCTL_VIRUS_BLOCKLIST",
        "",
        doc="file of SHA-256 hashes (one per line, optional name after a space) the builtin scanner rejects",
    ),
    Field(
        "fetch_timeout",
        "JOBCTL_FETCH_TIMEOUT",
        30,
        _parse_duration,
        _check_positive,
        doc="seconds to wait on a file download's connection or next chunk",
    ),
    Field(
        "fetch_allow_hosts",
        "JOBCTL_FETCH_ALLOW_HOSTS",
        (),
        _parse_list,
        _check_fetch_hosts,
        doc="hosts (exact names) and addresses or CIDR ranges file jobs may fetch from although they "
        "are not public (an internal CDN); every other loopback, private, link-local or metadata "
        "address is refused",
    ),
    Field(
        "file_roots",
        "JOBCTL_FILE_ROOTS",
        (),
        _parse_list,
        _check_absolute_paths,
        doc="folders file jobs may read local paths from, comma-separated (symlinks resolved first); "
        "default: the storage folder and uploads/ in the state folder",
    ),
    Field(
        "file_time_limit",
        "JOBCTL_FILE_TIME_LIMIT",
        120,
        _parse_duration,
        _check_positive,
        doc="seconds one image job's processing may take before it is stopped",
    ),
    Field(
        "image_memory_limit",
        "JOBCTL_IMAGE_MEMORY_LIMIT",
        2 * 1024**3,
        _parse_int,
        _check_positive,
        doc="memory ceiling of the process that decodes one image, bytes (k/m/g)",
    ),
    Field(
        "max_image_pixels",
        "JOBCTL_MAX_IMAGE_PIXELS",
        100_000_000,
        _parse_int,
        _check_positive,
        doc="images with more pixels are refused as decompression bombs",
    ),
    Field(
        "thumbnail_sizes",
        "JOBCTL_THUMBNAIL_SIZES",
        ((150, 150), (300, 300), (600, 600)),
        parse_sizes,
        doc="thumbnail boxes, WxH, comma-separated; aspect ratio is kept",
    ),
    Field(
        "image_quality",
        "JOBCTL_IMAGE_QUALITY",
        82,
        _parse_int,
        _check_percent,
        doc="JPEG/WebP/AVIF quality of optimised and converted images, 1-100",
    ),
    Field(
        "admin_emails",
        "JOBCTL_ADMIN_EMAILS",
        (),
        _parse_list,
        _check_addresses,
        doc="comma-separated admin addresses alerted when jobs are dead-lettered",
    ),
    Field(
        "alert_webhook_url",
        "JOBCTL_ALERT_WEBHOOK_URL",
        "",
        check=_check_http_url,
        secret=True,
        doc="URL that receives a JSON POST when jobs are dead-lettered",
    ),
    Field(
        "alert_cooldown",
        "JOBCTL_ALERT_COOLDOWN",
        300,
        _parse_duration,
        _check_non_negative,
        doc="at most one dead-letter alert per queue per this many seconds (the count is grouped)",
    ),
    Field(
        "alert_error_rate",
        "JOBCTL_ALERT_ERROR_RATE",
        20.0,
        _parse_percent,
        _check_percent_range,
        doc="alert when a queue's failed attempts exceed this share over 5 minutes (0: off)",
    ),
    Field(
        "alert_min_volume",
        "JOBCTL_ALERT_MIN_VOLUME",
        20,
        _parse_int,
        _check_non_negative,
        doc="...but only with at least this many finished attempts in those 5 minutes",
    ),
    Field(
        "alert_queue_size",
        "JOBCTL_ALERT_QUEUE_SIZE",
        10_000,
        _parse_int,
        _check_non_negative,
        doc="alert when a queue has more waiting jobs than this (0: off)",
    ),
    Field(
        "alert_oldest_wait",
        "JOBCTL_ALERT_OLDEST_WAIT",
        900,
        _parse_duration,
        _check_non_negative,
        doc="alert when a queue's oldest waiting job has waited longer than this (0: off)",
    ),
    Field(
        "alert_no_worker",
        "JOBCTL_ALERT_NO_WORKER",
        True,
        parse_bool,
        doc="alert when a queue has waiting jobs and no live worker",
    ),
    Field(
        "dlq_max_entries",
        "JOBCTL_DLQ_MAX_ENTRIES",
        0,
        _parse_int,
        _check_non_negative,
        doc="dead-letter entries kept (0: until purged); the oldest are dropped first",
    ),
    Field(
        "dlq_max_age",
        "JOBCTL_DLQ_MAX_AGE",
        0,
        _parse_duration,
        _check_non_negative,
        doc="dead-letter entries older than this are dropped (seconds or 30d/12h/15m; 0: never)",
    ),
    Field(
        "audit_max_entries",
        "JOBCTL_AUDIT_MAX_ENTRIES",
        100_000,
        _parse_int,
        _check_positive,
        doc="audit log entries kept in Redis (about; the oldest are trimmed first)",
    ),
    Field(
        "audit_max_age",
        "JOBCTL_AUDIT_MAX_AGE",
        90 * 86400,
        _parse_duration,
        _check_non_negative,
        doc="audit log entries older than this are trimmed from Redis (seconds or 90d/12h; 0: never)",
    ),
    Field(
        "audit_file",
        "JOBCTL_AUDIT_FILE",
        "",
        doc="also append every audit entry to this JSON-lines file (empty: Redis only)",
    ),
    Field(
        "heartbeat_interval",
        "JOBCTL_HEARTBEAT_INTERVAL",
        10,
        _parse_duration,
        _check_positive,
        doc="seconds between a busy worker's heartbeats; a job is abandoned after 3 missed",
    ),
    Field(
        "maintenance_interval",
        "JOBCTL_MAINTENANCE_INTERVAL",
        30,
        _parse_duration,
        _check_positive,
        doc="seconds between a worker's registry sweeps (abandoned jobs, failed jobs, alerts)",
    ),
    Field(
        "scheduler_lease",
        "JOBCTL_SCHEDULER_LEASE",
        15,
        _parse_duration,
        _check_positive,
        doc="seconds an active scheduler's (and the alert evaluator's) lease lasts; a standby takes over "
        "within this after it dies",
    ),
    Field(
        "log_format",
        "JOBCTL_LOG_FORMAT",
        "text",
        str.lower,
        _check_choice("text", "json"),
        doc="worker and scheduler logs: text, or json (one object per line, job fields included)",
    ),
    Field(
        "log_level",
        "JOBCTL_LOG_LEVEL",
        "INFO",
        str.upper,
        _check_choice("DEBUG", "INFO", "WARNING", "ERROR"),
        doc="log level of workers",
    ),
    Field(
        "max_batch",
        "JOBCTL_MAX_BATCH",
        1_000_000,
        _parse_int,
        _check_positive,
        doc="most jobs one call may enqueue (CSV rows, --count, a backfill's periods); more is refused "
        "before any is queued",
    ),
    Field(
        "embedded_maxmemory",
        "JOBCTL_EMBEDDED_MAXMEMORY",
        "50%",
        parse_memory_limit,
        doc="memory ceiling of the embedded server, applied when it starts: a share of RAM (50%), bytes "
        "(k/m/g) or 0 for none; when full it refuses writes, never evicts a job",
    ),
    Field(
        "hostname",
        "JOBCTL_HOSTNAME",
        "",
        str.strip,
        _check_hostname,
        doc="this host's name in worker names, `worker list` and the dash (empty: the machine's own); "
        "give each host its own",
    ),
    Field(
        "enqueue_replicas",
        "JOBCTL_ENQUEUE_REPLICAS",
        0,
        _parse_int,
        _check_non_negative,
        doc="replicas that must hold enqueued jobs before an enqueue returns (Redis WAIT, at most 1 s; "
        "fewer is logged): a Sentinel failover then keeps them; 0 does not wait",
    ),
    Field(
        "test_job_types",
        "JOBCTL_TEST_JOB_TYPES",
        False,
        parse_bool,
        doc="offer the test-only job types sleep, fail and flaky (test suites, benchmarks); off, they are "
        "refused and a worker dead-letters one already queued",
    ),
    Field(
        "redis_wait",
        "JOBCTL_REDIS_WAIT",
        30,
        _parse_duration,
        _check_non_negative,
        doc="how long a --burst worker waits for an unreachable or full Redis before it gives up (exit 3, "
        "full: 1); other workers wait on",
    ),
    Field(
        "http_host",
        "JOBCTL_HTTP_HOST",
        "127.0.0.1",
        doc="address `jobctl serve` listens on; anything but loopback needs API tokens",
    ),
    Field(
        "http_port", "JOBCTL_HTTP_PORT", 8080, _parse_int, _check_port, doc="port `jobctl serve` listens on"
    ),
    Field(
        "http_max_body",
        "JOBCTL_HTTP_MAX_BODY",
        64 * 1024,
        _parse_int,
        _check_positive,
        doc="largest HTTP API request body, bytes (k/m suffixes allowed); larger ones get 413",
    ),
    Field(
        "http_read_timeout",
        "JOBCTL_HTTP_READ_TIMEOUT",
        10,
        _parse_duration,
        _check_positive,
        doc="longest an HTTP API request body may take to arrive (10s, 1m); a slower or short one gets "
        "408 and its connection closed",
    ),
    Field(
        "web_session_ttl",
        "JOBCTL_WEB_SESSION_TTL",
        8 * 3600,
        _parse_duration,
        _check_positive,
        doc="how long a web dashboard sign-in lasts (8h, 30m); then the browser is sent back to sign in",
    ),
)
FIELDS_BY_NAME = {f.name: f for f in FIELDS}


@dataclass(frozen=True)
class Value:
    value: Any
    source: str


# eq=False: one load is one settings object, hashed by identity, so core can keep what it builds from
# it (the queue catalogue, the [schedules] definitions) once per load (jobctl.core.settings_cache)
@dataclass(frozen=True, eq=False)
class Settings:
    values: Mapping[str, Value]
    # jobctl.toml's [queues] and [schedules] tables as read, with the label of where they were read;
    # core checks and builds them (jobctl.core.catalog, jobctl.core.schedule_tables)
    queue_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    queue_source: str = "default"
    env_file: str | None = None
    config_file: str | None = None
    schedule_tables: Mapping[str, Any] = field(default_factory=dict)
    schedule_source: str = "default"

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values")
        if values is None or name not in values:  # also keeps pickling (which probes dunders) working
            raise AttributeError(name)
        return values[name].value

    @property
    def home_path(self) -> Path:
        if self.home:
            return Path(self.home).expanduser()
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(base) / "jobctl"

    @property
    def host_name(self) -> str:
        """JOBCTL_HOSTNAME, else this machine's name."""
        return self.hostname or socket.gethostname()

    @property
    def database(self) -> str:
        """DATABASE_URL, or the SQLite file in the state folder."""
        return self.database_url or f"sqlite:///{self.home_path / 'jobctl.db'}"

    @property
    def storage_path(self) -> Path:
        return Path(self.storage_dir).expanduser() if self.storage_dir else self.home_path / "storage"

    def describe(self) -> list[dict[str, Any]]:
        """Every effective value with its source; secrets masked."""
        rows = []
        for f in FIELDS:
            v = self.values[f.name]
            shown = v.value
            if f.secret and shown:
                shown = SECRET_MASK
            if f.name == "payment_attempts":
                shown = ",".join(f"{name}={count}" for name, count in shown)
            elif f.name == "commission_rates":
                shown = ",".join(f"{bps / 100:g}%" for bps in shown)
            elif isinstance(shown, tuple):
                shown = ",".join(x if isinstance(x, str) else "x".join(map(str, x)) for x in shown)
            if isinstance(shown, str):  # any value may hold a URL: one rule masks its secrets
                shown = mask_url(shown)
            rows.append({"key": f.name, "env": f.env, "value": shown, "source": v.source, "doc": f.doc})
        rows.append(
            {
                "key": "home (effective)",
                "env": "JOBCTL_HOME",
                "value": str(self.home_path),
                "source": self.values["home"].source,
                "doc": "state folder actually used",
            }
        )
        return rows


# The one rule for secrets inside URLs, whatever setting, log line or message they appear in: a
# password in the userinfo, a user name that is itself a token (https://TOKEN@host), and the value of
# any query or fragment parameter named like a credential (?token=, &X-Amz-Signature=, #access_token=).
# (the userinfo runs to the last @ before the path, as urlsplit reads it: a raw @ in a password)
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#]*)@")
# a name may be %-escaped (access%5Ftoken=): it is judged decoded, as the server reading it would
_URL_PARAM = re.compile(r"(?P<lead>[?&#;](?P<name>[A-Za-z0-9_.\-\[\]%+]+)=)(?P<value>[^&#;\s\"'<>]+)")
_SECRET_PARAM_WORDS = frozenset(
    {
        "key", "apikey", "token", "secret", "password", "passwd", "pwd", "pass", "sig", "signature",
        "auth", "authorization", "credential", "credentials", "session",
    }
)  # fmt: skip
_SECRET_PARAM_ENDINGS = ("key", "token", "secret", "password", "signature", "credential")
_TOKEN_USER = re.compile(r"(?:jct|sk|rk|pk|ghp|gho|ghs|glpat|xox[abpr]|SG)[._-]|[A-Za-z0-9._~+/=-]{16,}$")


def _secret_param(name: str) -> bool:
    """A query parameter named like a credential: token, api_key, access_token, X-Amz-Signature, ..."""
    name = name.lower()
    words = re.split(r"[_.\-\[\]]+", name)
    return any(w in _SECRET_PARAM_WORDS for w in words) or re.sub(r"[_.\-\[\]]", "", name).endswith(
        _SECRET_PARAM_ENDINGS
    )


def _mask_userinfo(match: re.Match) -> str:
    user, colon, password = match["userinfo"].partition(":")
    if password:
        return f"{match['scheme']}{user}:{SECRET_MASK}@"
    if not colon and _TOKEN_USER.match(user):
        return f"{match['scheme']}{SECRET_MASK}@"
    return match.group(0)


def _mask_param(match: re.Match) -> str:
    return match["lead"] + SECRET_MASK if _secret_param(unquote_plus(match["name"])) else match.group(0)


def mask_url(text: str) -> str:
    """`text` (a URL, or any text with URLs in it) with the URL secrets masked, safe to print or log:
    the userinfo password, a token-like user name, credential-named query and fragment values.
    Everything else is left exactly as it was (no re-encoding), so a URL without secrets is unchanged."""
    if not text or not isinstance(text, str):
        return text
    if "@" in text:
        text = _URL_USERINFO.sub(_mask_userinfo, text)
    if "=" in text:
        text = _URL_PARAM.sub(_mask_param, text)
    return text


def _read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines in python-dotenv's grammar; a line it cannot parse is refused, not skipped."""
    # lazy: python-dotenv (~4-7 ms) only when there is an .env file
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read env file {path}: {exc.strerror}", "check --env-file or JOBCTL_ENV_FILE"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"env file {path} is not UTF-8 text", "save it as UTF-8") from None
    for binding in parse_stream(StringIO(text)):
        # a bare word parses as a key without a value, which would be dropped without a word;
        # the line is not shown: it may hold a secret
        if binding.error or (binding.key is not None and binding.value is None):
            statement = binding.original.string  # it starts with the blank lines before it
            line = binding.original.line + statement[: len(statement) - len(statement.lstrip())].count("\n")
            raise ConfigError(
                f"env file {path}, line {line}: not a KEY=VALUE line",
                "one KEY=VALUE per line; quote a value with spaces or # and close every quote",
            )
    return {k: v for k, v in dotenv_values(stream=StringIO(text)).items() if v is not None}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file {path}: {exc.strerror}", "check JOBCTL_CONFIG or --config"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", "fix the file or unset JOBCTL_CONFIG") from None


def _locate(explicit: str | None, default: Path, what: str, where: str) -> Path | None:
    """The file to read: an explicitly named one must exist; the default one is optional."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{what} {path} does not exist", f"fix {where}")
        return path
    return default if default.is_file() else None


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Read every layer and validate; raises ConfigError (exit 2) naming the key and its source.

    The [queues] and [schedules] tables are kept as read: `jobctl.core.runtime.load_settings` loads
    settings and checks those too.
    """
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()

    env_file = _locate(
        flags.get("env_file") or environ.get("JOBCTL_ENV_FILE"),
        cwd / ".env",
        "env file",
        "--env-file or JOBCTL_ENV_FILE",
    )
    dotenv = _read_env_file(env_file) if env_file else {}
    config_file = _locate(
        flags.get("config") or environ.get("JOBCTL_CONFIG") or dotenv.get("JOBCTL_CONFIG"),
        cwd / "jobctl.toml",
        "config file",
        "--config or JOBCTL_CONFIG",
    )
    toml = _read_toml(config_file) if config_file else {}
    toml_label = f"jobctl.toml ({config_file})"

    queue_overrides = toml.pop("queues", {})
    schedule_tables = toml.pop("schedules", {})
    unknown = sorted(set(toml) - set(FIELDS_BY_NAME))
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} in {toml_label}",
            f"valid keys: {', '.join(FIELDS_BY_NAME)}, [queues.NAME], [schedules.NAME]",
        )

    values: dict[str, Value] = {}
    for f in FIELDS:
        if f.name in flags:
            raw, source = flags[f.name], "flag"
        elif f.env in environ:
            raw, source = environ[f.env], f"env {f.env}"
        elif f.env in dotenv:
            raw, source = dotenv[f.env], f".env ({env_file})"
        elif f.name in toml:
            raw, source = toml[f.name], toml_label
        else:
            values[f.name] = Value(f.default, "default")
            continue
        try:
            value = f.parse(raw)
            if f.check:
                f.check(value)
        except (ValueError, TypeError, IndexError) as exc:
            shown = "" if f.secret else f" {mask_url(repr(raw))}"  # a secret's value is never echoed
            raise ConfigError(
                f"invalid {f.name} ({f.env}) from {source}:{shown} {exc}",
                f"fix {f.env} where it is set ({source})",
            ) from None
        values[f.name] = Value(value, source)

    return Settings(
        values,
        queue_overrides,
        toml_label if queue_overrides else "default",
        str(env_file) if env_file else None,
        str(config_file) if config_file else None,
        schedule_tables,
        toml_label if schedule_tables else "default",
    )
