"""Recipients from a CSV file: an `email` (or `to`) column, every other column is template data."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jobctl.errors import UsageError
from jobctl.jobs.email.addresses import normalize_address, plain_address

ADDRESS_COLUMNS = ("email", "to")
HINT = "the first line names the columns, e.g. email,name; one recipient per line"


def _header(path: Path, fields: list[str] | None) -> tuple[list[str], str]:
    if not fields:
        raise UsageError(f"{path} is empty", HINT)
    names = [f.strip() for f in fields]
    if any(not n for n in names):
        raise UsageError(f"{path} line 1: column {names.index('') + 1} has no name", HINT)
    lowered = [n.lower() for n in names]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(f"{path} line 1: column {duplicates[0]!r} appears twice", HINT)
    found = [c for c in ADDRESS_COLUMNS if c in lowered]
    if not found:
        raise UsageError(f"{path} has no 'email' column (columns: {', '.join(names)})", HINT)
    if len(found) > 1:
        raise UsageError(f"{path} has both 'email' and 'to' columns", "keep one address column")
    return names, names[lowered.index(found[0])]


def iter_recipients_csv(path: str | Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(line, normalised address, data) one row at a time, in file order; memory stays flat for any size.

    Same checks and messages as read_recipients_csv, raised when the bad row is reached (a caller that
    must refuse the whole file before acting reads it twice: once to check, once to act).
    """
    path = Path(path).expanduser()
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise UsageError(f"recipients file {path} does not exist", "check the path") from None
    except OSError as exc:
        raise UsageError(f"cannot read recipients file {path}: {exc.strerror}", "check the path") from None
    found = False
    with fh:
        reader = csv.reader(fh)
        try:
            names, address_column = _header(path, next(reader, None))
            width = len(names)
            for record in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in record):
                    continue
                if len(record) != width:
                    raise UsageError(
                        f"{path} line {line}: {len(record)} fields, the header has {width}",
                        "quote values that contain commas",
                    )
                if any("\0" in cell for cell in record):  # text has none; a binary file does
                    raise UsageError(f"{path} line {line}: a NUL byte", "save the file as CSV UTF-8")
                data = dict(zip(names, (cell.strip() for cell in record), strict=True))
                raw = data.pop(address_column)
                address = plain_address(raw)
                if address is None:
                    try:
                        address = normalize_address(raw)
                    except UsageError as exc:
                        raise UsageError(f"{path} line {line}: {exc.message}", exc.hint) from None
                found = True
                yield line, address, data
        except csv.Error as exc:
            raise UsageError(f"{path} line {reader.line_num}: {exc}", HINT) from None
        except UnicodeDecodeError:
            raise UsageError(f"{path} is not UTF-8 text", "save the file as CSV UTF-8") from None
    if not found:
        raise UsageError(f"{path} has no recipients", HINT)


def read_recipients_csv(path: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """[(address, data), ...] in file order; UsageError names the line of a bad row."""
    return [(address, data) for _line, address, data in iter_recipients_csv(path)]
