"""Trace context in and out: W3C ``traceparent``/``tracestate`` and B3, single and multi header.

``parse`` reads what a request carries (W3C first, then B3 single, then B3 multi; an invalid
header counts as absent, as the W3C spec asks); ``lines`` writes the context of our span in W3C
and, when the request came with B3, in the same B3 style, so apps that forward either keep whole
traces. Ids are ints (0 = none). On the request path: no allocation unless trace headers exist.
"""

from __future__ import annotations

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
SAMPLED_UNKNOWN = -1


class Incoming:
    """The trace context a request carried: its trace, the caller's span, the caller's sampling
    decision (1, 0, or SAMPLED_UNKNOWN), the B3 or W3C style it came in, its tracestate and
    whether ``x-glassmesh-trace: 1`` asks to force a sample."""

    __slots__ = ("forced", "parent_id", "sampled", "style", "trace_id", "tracestate")

    def __init__(self) -> None:
        self.trace_id = 0
        self.parent_id = 0
        self.sampled = SAMPLED_UNKNOWN
        self.style = W3C
        self.tracestate = b""
        self.forced = False


def _hex(text: bytes, size: int) -> int:
    """The id in ``text`` if it is exactly ``size`` hex digits and not all zero, else 0."""
    if len(text) != size:
        return 0
    try:
        return int(text, 16)
    except ValueError:
        return 0


def _field(names: list[bytes], values: list[bytes], name: bytes) -> bytes | None:
    if name in names:
        return values[names.index(name)].strip()
    return None


def parse(names: list[bytes], values: list[bytes]) -> Incoming:
    """The trace context of a request's fields (trace_id 0 if none is valid)."""
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
    if trace is not None and len(trace) in (16, 32):
        found.parent_id = _hex(_field(names, values, B3_SPAN_ID) or b"", 16)
        if found.parent_id:
            found.trace_id = _hex(trace, len(trace))


def _w3c(found: Incoming, value: bytes) -> bool:
    """Reads ``version-traceid-parentid-flags``; False if it is not a valid traceparent."""
    parts = value.split(b"-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == b"ff" or len(parts[3]) != 2:
        return False
    if parts[0] == b"00" and len(parts) != 4:
        return False
    trace_id, parent_id = _hex(parts[1], 32), _hex(parts[2], 16)
    flags = _hex(parts[3], 2) if parts[3] != b"00" else 0
    if trace_id == 0 or parent_id == 0 or (flags == 0 and parts[3] != b"00"):
        return False
    found.trace_id, found.parent_id, found.sampled = trace_id, parent_id, flags & 1
    return True


def _b3_single(found: Incoming, value: bytes) -> None:
    """``traceid-spanid[-sampled[-parentspanid]]``, or a bare sampling state (0, 1, d)."""
    parts = value.split(b"-")
    if len(parts) == 1:
        found.sampled = _b3_sampled(parts[0])
        return
    trace = parts[0]
    trace_id = _hex(trace, len(trace)) if len(trace) in (16, 32) else 0
    span_id = _hex(parts[1], 16)
    if trace_id == 0 or span_id == 0:
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


def lines(trace_id: int, span_id: int, sampled: bool, style: int, tracestate: bytes) -> list[bytes]:
    """Header lines carrying our span ``span_id`` of ``trace_id`` to the next hop."""
    flag = 1 if sampled else 0
    out = [b"traceparent: 00-%032x-%016x-%02x\r\n" % (trace_id, span_id, flag)]
    if tracestate:
        out.append(b"tracestate: %s\r\n" % tracestate)
    if style == B3_SINGLE:
        out.append(b"b3: %032x-%016x-%d\r\n" % (trace_id, span_id, flag))
    elif style == B3_MULTI:
        out.append(
            b"x-b3-traceid: %032x\r\nx-b3-spanid: %016x\r\nx-b3-sampled: %d\r\n"
            % (trace_id, span_id, flag)
        )
    return out
