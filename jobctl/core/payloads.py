"""Job data at rest: JSON always (never pickle), Fernet-encrypted when JOBCTL_ENCRYPTION_KEYS is set.

`PayloadSerializer` is the one RQ serializer jobctl uses: everything RQ puts through it (a job's
function and arguments, its meta, its result) becomes a Fernet token under the first key, and any
of the keys reads it back. Without keys it writes exactly what RQ's JSONSerializer writes, and it
always reads plain JSON, so jobs stored before encryption was turned on stay readable.

Text RQ stores outside the serializer (a failure's traceback) and jobctl's own documents (dead-letter
entries, schedule data) use `seal_text` / `seal_json` on the fields that can hold personal data.

A Fernet token is url-safe base64 of a version byte 0x80 and a big-endian timestamp whose first
four bytes are zero until 2106, so it always starts "gAAAAA". Neither JSON nor a traceback can look
like that, which is how a sealed value is told from a plaintext one without a marker.

The keys come from the process's settings (jobctl.core.runtime): what the CLI loaded, or the
environment for library callers and workers.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, overload

from rq.exceptions import DeserializationError

from jobctl.core import runtime
from jobctl.errors import ConfigError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

_TOKEN = re.compile(rb"gAAAAA[A-Za-z0-9_-]{80,}={0,2}")  # the shortest token is 100 characters
SETTING = "JOBCTL_ENCRYPTION_KEYS"


class EncryptedData(ConfigError):
    """Stored data is encrypted and this process has no key that opens it."""

    kind = "encrypted"


def no_keys_error() -> EncryptedData:
    return EncryptedData(
        f"job data is encrypted; set {SETTING} (the key it was encrypted with) to read it",
        "the same keys as the workers use; nothing was changed",
    )


def wrong_keys_error() -> EncryptedData:
    return EncryptedData(
        f"job data is encrypted with a key that is not in {SETTING}",
        "add the old key after the new one (NEW,OLD) until `jobctl keys rotate` has run",
    )


# --- keys ----------------------------------------------------------------------------------------


def generate_key() -> str:
    from cryptography.fernet import Fernet  # lazy: cryptography (~9 ms) only when encryption is on

    return Fernet.generate_key().decode()


@lru_cache(maxsize=8)
def ring_for(keys: tuple[str, ...]) -> MultiFernet:
    """MultiFernet over `keys` (already validated by the settings): the first encrypts, all decrypt."""
    from cryptography.fernet import Fernet, MultiFernet  # lazy: only when encryption is on

    return MultiFernet([Fernet(k) for k in keys])


def keyring() -> MultiFernet | None:
    """This process's keys, or None when encryption is off."""
    keys = runtime.settings().encryption_keys
    return ring_for(tuple(keys)) if keys else None


def active() -> bool:
    return keyring() is not None


# --- bytes and text ------------------------------------------------------------------------------


def is_sealed(data: bytes | str | None) -> bool:
    if isinstance(data, str):
        data = data.encode("ascii", "replace")
    if not data:
        return False
    return _TOKEN.fullmatch(data) is not None


def seal(data: bytes, ring: MultiFernet | None = None) -> bytes:
    """`data` encrypted under the first key; unchanged when encryption is off."""
    ring = ring or keyring()
    return ring.encrypt(data) if ring is not None else data


def unseal(data: bytes, ring: MultiFernet | None = None) -> bytes:
    """Plaintext of a sealed value; a plaintext one as it is. EncryptedData when no key opens it."""
    if not is_sealed(data):
        return data
    from cryptography.fernet import InvalidToken  # lazy: only for sealed (encrypted) data

    ring = ring or keyring()
    if ring is None:
        raise no_keys_error()
    try:
        return ring.decrypt(data)
    except InvalidToken:
        raise wrong_keys_error() from None


def seal_text(text: str) -> str:
    if not text:
        return text
    ring = keyring()
    return ring.encrypt(text.encode()).decode() if ring is not None else text


@overload
def open_text(text: str) -> str: ...
@overload
def open_text(text: None) -> None: ...
def open_text(text: str | None) -> str | None:
    if text is None or not is_sealed(text):
        return text
    return unseal(text.encode()).decode()


def seal_json(value: Any) -> Any:
    """A JSON value as one sealed string; unchanged when encryption is off."""
    ring = keyring()
    return ring.encrypt(json.dumps(value, default=str).encode()).decode() if ring is not None else value


def open_json(value: Any) -> Any:
    if isinstance(value, str) and is_sealed(value):
        return json.loads(unseal(value.encode()))
    return value


# --- documents with some fields sealed (dead-letter entries) ------------------------------------

SEALED = "sealed"  # names the fields of a document that are sealed JSON values


def seal_fields(doc: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """A copy of `doc` with `names` sealed and listed under "sealed"; `doc` itself when encryption is off."""
    if not active():
        return doc
    out = dict(doc)
    present = [n for n in names if n in doc]
    for name in present:
        out[name] = seal_json(doc[name])
    out[SEALED] = present
    return out


def open_fields(doc: dict[str, Any], names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A copy of `doc` with its sealed fields (or just `names` of them) opened."""
    sealed = doc.get(SEALED)
    if not sealed:
        return doc
    out = dict(doc)
    left = []
    for name in sealed:
        if names is None or name in names:
            out[name] = open_json(doc.get(name))
        else:
            left.append(name)
    if left:
        out[SEALED] = left
    else:
        out.pop(SEALED)
    return out


# --- RQ's serializer -----------------------------------------------------------------------------


def _holds_unread_meta(obj: Any) -> bool:
    # RQ keeps meta it could not read as {"unserialized": <the stored bytes>}
    return isinstance(obj, dict) and isinstance(obj.get("unserialized"), bytes)


class PayloadSerializer:
    """RQ's serializer protocol: JSON inside, sealed when keys are set (see the module doc).

    Pass the class itself (`serializer=PayloadSerializer`), or its path
    `jobctl.core.payloads.PayloadSerializer` to RQ's own CLI.
    """

    @staticmethod
    def dumps(obj: Any, /) -> bytes:
        try:
            text = json.dumps(obj)
        except TypeError:
            if _holds_unread_meta(obj):  # writing back meta this process could not decrypt would destroy it
                raise no_keys_error() from None
            raise
        return seal(text.encode("utf-8"))

    @staticmethod
    def loads(data: bytes | str, /) -> Any:
        if isinstance(data, str):
            data = data.encode("utf-8")
        return json.loads(unseal(data).decode("utf-8"))


def locked(job) -> EncryptedData | None:
    """Why `job`'s data cannot be read here (encrypted, no key opens it), or None when it can."""
    try:
        job.func_name  # noqa: B018 - deserializes the data
    except DeserializationError as exc:
        # anything else unreadable is RQ's to report when the job runs
        return exc.__cause__ if isinstance(exc.__cause__, EncryptedData) else None
    unread_meta = getattr(job, "_unreadable_meta", None)
    if unread_meta is not None:
        try:
            unseal(unread_meta)
        except EncryptedData as exc:
            return exc
    return None


def check_readable(job) -> None:
    reason = locked(job)
    if reason is not None:
        raise reason
