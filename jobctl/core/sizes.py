"""Byte counts as people read them, for messages about limits."""

from __future__ import annotations


def human_size(size: float) -> str:
    if size < 1024:
        return f"{int(size)} bytes"
    size /= 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
