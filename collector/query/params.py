"""Parsing query parameters the way Jaeger does: Go durations, µs/ms times, RFC 3339 times, ids."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9,
            "m": 60 * 10**9, "h": 3600 * 10**9}  # fmt: skip
_FRACTION = re.compile(r"\.(\d+)")


class BadParam(ValueError):
    """A query parameter is malformed; the message is what the client sees."""


def go_duration_ns(text: str, name: str) -> int:
    """A Go duration string (``100ms``, ``1.5s``, ``1h2m``) in nanoseconds."""
    raw = text.strip()
    pos, total = 0, 0.0
    while pos < len(raw):
        match = _DURATION_PART.match(raw, pos)
        if match is None:
            raise BadParam(f"cannot parse {name}: time: invalid duration {text[:40]!r}")
        total += float(match.group(1)) * _UNIT_NS[match.group(2)]
        pos = match.end()
    if not raw:
        raise BadParam(f"cannot parse {name}: empty duration")
    return int(total)


def integer(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadParam(f"unable to parse param '{name}': {text[:40]!r} is not an integer") from None


def rfc3339_ns(text: str, name: str) -> int:
    """An RFC 3339 time with up to nanosecond precision, in ns since the epoch."""
    fraction = _FRACTION.search(text)
    nanos = 0
    if fraction is not None:
        digits = fraction.group(1)[:9]
        nanos = int(digits.ljust(9, "0"))
        text = text[: fraction.start()] + text[fraction.end() :]
    try:
        when = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise BadParam(f"cannot parse {name}: {text[:40]!r} is not an RFC 3339 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp()) * 10**9 + nanos


def trace_id(text: str) -> bytes:
    """A trace id from hex (up to 32 digits, left-padded) or base64 (up to 24 chars)."""
    raw = text.strip()
    if 0 < len(raw) <= 32 and all(c in "0123456789abcdefABCDEF" for c in raw):
        return bytes.fromhex(raw.rjust(32, "0"))
    if 0 < len(raw) <= 24:
        padded = raw + "=" * (-len(raw) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                data = decode(padded)
            except (binascii.Error, ValueError):
                continue
            if 0 < len(data) <= 16:
                return data.rjust(16, b"\x00")
    raise BadParam(f"malformed trace id {text[:40]!r}")


def jaeger_trace_id(trace: bytes) -> str:
    """Jaeger's text form: 16 hex digits when the high 64 bits are zero, else 32."""
    return trace[8:].hex() if trace[:8] == bytes(8) else trace.hex()
