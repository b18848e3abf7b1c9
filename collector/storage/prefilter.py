"""Which segments a search can skip without reading them, and which it can skip undecoded.

First the in-memory summary (``segments.Services``): the service's spans must overlap the time
range, carry the operation, have a duration in range and, for the derived tags ``span.kind``,
``otel.status_code`` and ``error``, the matching kind or status. Then, for each wanted tag,
the stored bytes: an attribute ``key=value`` is a KeyValue message whose encoding is fixed, so
a segment whose bytes contain none of the encodings the text could come from (a string, an
int, a double, a bool, bytes) holds no span with that tag, and is skipped before decoding.
That assumes the canonical protobuf encoding every OTLP exporter writes (fields in order,
shortest varints); segments we encoded ourselves (JSON, gRPC) always are.
"""

from __future__ import annotations

import contextlib
import math

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.otlp.attrs import as_text
from collector.storage.api import KIND_NAMES, TraceQuery
from collector.storage.segments import ERROR_BIT, OK_BIT, Op, Segment

DERIVED = {"span.kind", "otel.status_code", "error", "otel.scope.name"}
KIND_BITS = {name: 1 << kind for kind, name in KIND_NAMES.items()}
STATUS_BITS = {"OK": OK_BIT, "ERROR": ERROR_BIT}


ALL_FLAGS = (1 << 16) - 1


def summary_flags(segment: Segment, q: TraceQuery) -> int | None:
    """None when the segment's summary rules out a span matching ``q``'s service, time range,
    operation and durations; else the kind/status flags of the spans that may match."""
    entry = segment.services.get(q.service)
    if entry is None:
        return None
    low, high, ops = entry
    if high < q.start_min_ns or low > q.start_max_ns:
        return None
    if ops is None:
        return ALL_FLAGS
    if q.operation is not None:
        op = ops.get(q.operation)
        return op[2] if op is not None and _durations_fit(op, q) else None
    flags = 0
    for op in ops.values():
        if _durations_fit(op, q):
            flags |= op[2]
    return flags or None


def _durations_fit(op: Op, q: TraceQuery) -> bool:
    low, high, _ = op
    if q.min_duration_ns is not None and high < q.min_duration_ns:
        return False
    return q.max_duration_ns is None or low <= q.max_duration_ns


def _derived_present(key: str, value: str, flags: int) -> bool:
    """Whether the summary's flags show the derived tag ``key=value`` on some span."""
    if key == "span.kind":
        return bool(flags & KIND_BITS.get(value, 0))
    if key == "otel.status_code":
        return bool(flags & STATUS_BITS.get(value, 0))
    if key == "error":
        return value == "true" and bool(flags & ERROR_BIT)
    return True  # otel.scope.name: not summarised


def byte_checks(q: TraceQuery, flags: int) -> list[list[bytes]]:
    """Per wanted tag not already shown present, the byte strings one of which the segment must
    contain (an attribute of that name and value). A tag that cannot be checked this way (JSON
    arrays or maps, empty values) is left out: it does not rule the segment out."""
    out = []
    for key, value in q.tags.items():
        if key in DERIVED and _derived_present(key, value, flags):
            continue
        found = needles(key, value)
        if found:
            out.append(found)
    return out


def bytes_may_match(body: bytes, checks: list[list[bytes]]) -> bool:
    """Whether ``body`` contains, for every check, one of its encodings."""
    return all(any(n in body for n in options) for options in checks)


def needles(key: str, value: str) -> list[bytes]:
    """Encodings of every KeyValue(key, v) whose tag text is ``value``; [] when unknown."""
    if not value or value[0] in "[{":
        return []
    candidates = [AnyValue(string_value=value)]
    if value in ("true", "false"):
        candidates.append(AnyValue(bool_value=value == "true"))
    try:
        number = int(value)
        if str(number) == value and -(2**63) <= number < 2**63:
            candidates.append(AnyValue(int_value=number))
    except ValueError:
        pass
    try:
        real = float(value)
        if math.isfinite(real) and as_text(AnyValue(double_value=real)) == value:
            candidates.append(AnyValue(double_value=real))
    except ValueError:
        pass
    if len(value) % 2 == 0:
        with contextlib.suppress(ValueError):
            candidates.append(AnyValue(bytes_value=bytes.fromhex(value)))
    return [KeyValue(key=key, value=v).SerializeToString() for v in candidates]
