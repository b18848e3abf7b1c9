"""Item-level checks on decoded OTLP batches: what is rejected goes into partial_success.

A span is rejected for a trace id that is not 16 non-zero bytes, a span id that is not 8
non-zero bytes, a parent span id that is neither empty nor 8 bytes, an end before its start,
or a time past 2262 (beyond a signed 64-bit count of nanoseconds): ``spanbatch`` checks spans
as it reads them. A log record is rejected for ids of the wrong length. Rejected items are
removed in place, so what the pipeline sees is valid.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs


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
