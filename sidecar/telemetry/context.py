"""Trace context in and out: W3C ``traceparent``/``tracestate`` and B3, single and multi header.

``parse`` reads what a request carries (W3C first, then B3 single, then B3 multi; an invalid
header counts as absent, as the W3C spec asks); ``lines`` writes the context of our span in W3C
and, when the request came with B3, in the same B3 style, so apps that forward either keep whole
traces. Ids are lowercase hex bytes as they travel (b"" = none): a request's ids go out as they
came or as ``IdSource`` cut them from a pool of random hex, never through an int; OTLP's raw bytes
are made from them in the exporter thread, for sampled requests only.
"""

from __future__ import annotations

import os
from binascii import hexlify
from typing import Final

from controlplane.api.telemetry import (
    B3,
    B3_FLAGS,
    B3_PARENT_SPAN_ID,
    B3_SAMPLED,
    B3_SPAN_ID,
    B3_TRACE_ID,
    FORCE_TRACE,
    TRACEPARENT,
    TRACESTATE,
)

W3C = 0
B3_SINGLE = 1
B3_MULTI = 2
# Every field this module reads; the request path checks this set once per request.
TRACE_FIELDS = frozenset(
    {TRACEPARENT, TRACESTATE, B3, B3_TRACE_ID, B3_SPAN_ID, B3_PARENT_SPAN_ID, B3_SAMPLED, B3_FLAGS}
)
# What the sidecar rewrites (the force header travels on untouched).
REPLACED_FIELDS = TRACE_FIELDS
SAMPLED_UNKNOWN: Final[int] = -1
_HEX_DIGITS: Final[bytes] = b"0123456789abcdef"
_B3_PAD: Final[bytes] = b"0" * 16  # a 64-bit B3 trace id, as the 128-bit id W3C carries
_POOL_BYTES: Final[int] = 3072  # random bytes per refill of an IdSource: 128 (trace, span) pairs


class Incoming:
    """The trace context a request carried: its trace, the caller's span, the caller's sampling
    decision (1, 0, or SAMPLED_UNKNOWN), the B3 or W3C style it came in, its tracestate and
    whether ``x-glassmesh-trace: 1`` asks to force a sample."""

    __slots__ = ("forced", "parent_id", "sampled", "style", "trace_id", "tracestate")

    def __init__(self) -> None:
        self.trace_id = b""
        self.parent_id = b""
        self.sampled = SAMPLED_UNKNOWN
        self.style = W3C
        self.tracestate = b""
        self.forced = False


class IdSource:
    """New trace and span ids as hex, cut from a pool of ``os.urandom`` bytes hexlified at once
    (one system call and one conversion per 128 ids). One per listener: the event loop's only."""

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def _take(self, size: int) -> bytes:
        at = self._at
        if at + size > len(self._pool):
            self._pool, at = hexlify(os.urandom(_POOL_BYTES)), 0
        self._at = at + size
        found = self._pool[at : at + size]
        # All zeros is not a valid id (a chance of 2**-64 at worst): take the next one. The
        # first digit is looked at first, so the common case allocates nothing more.
        if found[0] == 48 and not found.strip(b"0"):
            return self._take(size)
        return found

    def trace_id(self) -> bytes:
        return self._take(32)

    def span_id(self) -> bytes:
        return self._take(16)


def _hex(text: bytes, size: int) -> bytes:
    """``text`` in lowercase if it is exactly ``size`` hex digits and not all zero, else b""."""
    if len(text) != size:
        return b""
    low = text.lower()
    if low.translate(None, _HEX_DIGITS) or not low.strip(b"0"):
        return b""
    return low


def _field(names: list[bytes], values: list[bytes], name: bytes) -> bytes | None:
    if name in names:
        return values[names.index(name)].strip()
    return None


def parse(names: list[bytes], values: list[bytes]) -> Incoming:
    """The trace context of a request's fields (trace_id b"" if none is valid)."""
    found = Incoming()
    force = _field(names, values, FORCE_TRACE)
    found.forced = force == b"1"
    parent = _field(names, values, TRACEPARENT)
    if parent is not None and _w3c(found, parent):
        state = _field(names, values, TRACESTATE)
        if state is not None and len(state) <= 512:
            found.tracestate = state
        # B3 alongside W3C: keep writing B3 in that style for apps that read only B3.
        if B3 in names:
            found.style = B3_SINGLE
        elif B3_TRACE_ID in names:
            found.style = B3_MULTI
        return found
    single = _field(names, values, B3)
    if single is not None:
        found.style = B3_SINGLE
        _b3_single(found, single)
        return found
    if B3_TRACE_ID in names or B3_SAMPLED in names or B3_FLAGS in names:
        _b3_multi(found, names, values)
    return found


def _b3_multi(found: Incoming, names: list[bytes], values: list[bytes]) -> None:
    """``x-b3-traceid``, ``x-b3-spanid``, ``x-b3-sampled`` and ``x-b3-flags`` (1 = debug)."""
    found.style = B3_MULTI
    found.sampled = _b3_sampled(_field(names, values, B3_SAMPLED))
    if _field(names, values, B3_FLAGS) == b"1":
        found.sampled = 1
    trace = _field(names, values, B3_TRACE_ID)
    if trace is not None:
        found.parent_id = _hex(_field(names, values, B3_SPAN_ID) or b"", 16)
        if found.parent_id:
            found.trace_id = _b3_trace(trace)
            if not found.trace_id:
                found.parent_id = b""


def _w3c(found: Incoming, value: bytes) -> bool:
    """Reads ``version-traceid-parentid-flags``; False if it is not a valid traceparent."""
    parts = value.split(b"-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == b"ff" or len(parts[3]) != 2:
        return False
    if parts[0] == b"00" and len(parts) != 4:
        return False
    trace_id, parent_id = _hex(parts[1], 32), _hex(parts[2], 16)
    flags = parts[3]
    if not trace_id or not parent_id or flags.lower().translate(None, _HEX_DIGITS):
        return False
    found.trace_id, found.parent_id, found.sampled = trace_id, parent_id, int(flags, 16) & 1
    return True


def _b3_trace(text: bytes) -> bytes:
    """A B3 trace id of 16 or 32 hex digits as 32 (b"" if invalid)."""
    if len(text) == 16:
        short = _hex(text, 16)
        return _B3_PAD + short if short else b""
    return _hex(text, 32)


def _b3_single(found: Incoming, value: bytes) -> None:
    """``traceid-spanid[-sampled[-parentspanid]]``, or a bare sampling state (0, 1, d)."""
    parts = value.split(b"-")
    if len(parts) == 1:
        found.sampled = _b3_sampled(parts[0])
        return
    trace_id, span_id = _b3_trace(parts[0]), _hex(parts[1], 16)
    if not trace_id or not span_id:
        return
    found.trace_id, found.parent_id = trace_id, span_id
    if len(parts) > 2:
        found.sampled = _b3_sampled(parts[2])


def _b3_sampled(value: bytes | None) -> int:
    if value in (b"1", b"true", b"d"):
        return 1
    if value in (b"0", b"false"):
        return 0
    return SAMPLED_UNKNOWN


def lines(trace: bytes, span: bytes, sampled: bool, style: int, tracestate: bytes) -> list[bytes]:
    """Header lines carrying our span ``span`` of ``trace`` (hex) to the next hop."""
    flag = b"1" if sampled else b"0"
    out = [b"".join((b"traceparent: 00-", trace, b"-", span, b"-0", flag, b"\r\n"))]
    if tracestate:
        out.append(b"".join((b"tracestate: ", tracestate, b"\r\n")))
    if style == B3_SINGLE:
        out.append(b"".join((b"b3: ", trace, b"-", span, b"-", flag, b"\r\n")))
    elif style == B3_MULTI:
        out.append(
            b"".join((b"x-b3-traceid: ", trace, b"\r\nx-b3-spanid: ", span,
                      b"\r\nx-b3-sampled: ", flag, b"\r\n"))
        )  # fmt: skip
    return out
