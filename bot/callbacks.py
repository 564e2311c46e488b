"""Callback data: `prefix:arg:arg`, never more than Telegram's 64 bytes.

Callback data comes from the client and can be forged, so whatever it names is
re-checked against the presser on every press by the core.
"""

from __future__ import annotations

MAX_BYTES = 64


class CallbackTooLong(ValueError):
    pass


def cb(*parts: object) -> str:
    """Join parts into callback data; refuse anything Telegram would reject."""
    texts = [str(p) for p in parts]
    data = ":".join(texts)
    if data.count(":") != len(texts) - 1:
        raise ValueError(f"callback parts may not contain ':': {texts!r}")
    size = len(data) if data.isascii() else len(data.encode("utf-8"))
    if not 1 <= size <= MAX_BYTES:
        raise CallbackTooLong(f"callback data is {size} bytes, limit is {MAX_BYTES}: {data!r}")
    return data


def parse(data: str) -> list[str]:
    return data.split(":")


def int_arg(parts: list[str], index: int) -> int | None:
    """The int at `index`, or None when missing or malformed (a forged press)."""
    try:
        value = int(parts[index])
    except (IndexError, ValueError):
        return None
    # SQLite's integers are 64-bit: a larger forged number would raise OverflowError.
    return value if -(2**63) <= value < 2**63 else None
