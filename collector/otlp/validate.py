"""Item-level checks on decoded OTLP batches: what is rejected goes into partial_success.

A span is rejected for a trace id that is not 16 non-zero bytes, a span id that is not 8
non-zero bytes, a parent span id that is neither empty nor 8 bytes, an end before its start,
or a time past 2262 (beyond a signed 64-bit count of nanoseconds).
A log record is rejected for ids of the wrong length. Rejected items are removed in place, so
what the pipeline sees is valid.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span

ZERO_TRACE = bytes(16)
ZERO_SPAN = bytes(8)
MAX_NS = 2**63 - 1  # times are stored as SQLite integers


def span_problem(span: Span) -> str | None:
    """Why ``span`` cannot be stored, or None."""
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    if len(trace_id) != 16 or trace_id == ZERO_TRACE:
        return "invalid_trace_id"
    if len(span_id) != 8 or span_id == ZERO_SPAN:
        return "invalid_span_id"
    if parent and len(parent) != 8:
        return "invalid_parent_span_id"
    if span.end_time_unix_nano < span.start_time_unix_nano:
        return "end_before_start"
    if span.end_time_unix_nano > MAX_NS:
        return "invalid_time"
    return None


def check_spans(batch: Sequence[ResourceSpans]) -> Counter[str]:
    """Remove invalid spans from ``batch``; returns rejections counted by reason."""
    rejected: Counter[str] = Counter()
    for resource in batch:
        for scope in resource.scope_spans:
            spans = scope.spans
            bad = [(i, p) for i, s in enumerate(spans) if (p := span_problem(s)) is not None]
            for index, problem in reversed(bad):
                del spans[index]
                rejected[problem] += 1
    return rejected


def check_logs(batch: Sequence[ResourceLogs]) -> Counter[str]:
    """Remove log records with malformed ids from ``batch``; rejections by reason."""
    rejected: Counter[str] = Counter()
    for resource in batch:
        for scope in resource.scope_logs:
            records = scope.log_records
            bad = [
                i
                for i, r in enumerate(records)
                if len(r.trace_id) not in (0, 16) or len(r.span_id) not in (0, 8)
            ]
            for index in reversed(bad):
                del records[index]
                rejected["invalid_id"] += 1
    return rejected


def describe(rejected: Counter[str], item: str) -> str:
    """An English partial_success message: ``2 spans rejected: end_before_start (2)``."""
    if not rejected:
        return ""
    total = sum(rejected.values())
    reasons = ", ".join(f"{reason} ({n})" for reason, n in sorted(rejected.items()))
    return f"{total} {item}{'s' if total != 1 else ''} rejected: {reasons}"
