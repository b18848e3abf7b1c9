"""Segments: one stored batch each, and the in-memory index that finds them.

A segment is a batch as it arrived (after validation), encoded once as an OTLP Export request.
The index keeps, per segment, a Bloom filter of its trace ids, its span start range and the
start range of each service's spans in it; that is what trace lookups and searches consult
before decoding anything. The writer thread appends and prunes; reader threads take snapshots.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from collector.otlp.attrs import service_name

TRACES, LOGS = 1, 2  # the ``signal`` column; also the Export request's field number (1)


@dataclass(frozen=True)
class Segment:
    """What the index knows of one stored batch."""

    id: int
    signal: int
    received_s: float
    size: int
    bloom: bytes
    services: dict[str, tuple[int, int]]  # service -> (min start, max start) of its spans


@dataclass
class Summary:
    """What one pass over a batch learns (writer thread)."""

    trace_ids: set[bytes] = field(default_factory=set)
    services: dict[str, tuple[int, int]] = field(default_factory=dict)
    operations: set[tuple[str, str, int]] = field(default_factory=set)


def summarize_spans(batch: Sequence[ResourceSpans]) -> Summary:
    summary = Summary()
    ids, ops = summary.trace_ids, summary.operations
    for rs in batch:
        service = service_name(rs.resource)
        low, high = summary.services.get(service, (2**63, 0))
        for ss in rs.scope_spans:
            spans = list(ss.spans)
            if not spans:
                continue
            ids.update([s.trace_id for s in spans])
            ops.update([(service, n, k) for n, k in {(s.name, s.kind) for s in spans}])
            starts = [s.start_time_unix_nano for s in spans]
            low, high = min(low, *starts), max(high, *starts)
        summary.services[service] = (low, high)
    return summary


def summarize_logs(batch: Sequence[ResourceLogs]) -> Summary:
    summary = Summary()
    for rl in batch:
        for sl in rl.scope_logs:
            summary.trace_ids.update(r.trace_id for r in sl.log_records if r.trace_id)
    return summary


def encode_services(services: dict[str, tuple[int, int]]) -> bytes:
    return msgspec.json.encode(services)


def decode_services(data: bytes) -> dict[str, tuple[int, int]]:
    raw: dict[str, Any] = msgspec.json.decode(data)
    return {k: (int(v[0]), int(v[1])) for k, v in raw.items()}


class SegmentIndex:
    """Segments in id order. ``snapshot`` is safe from any thread."""

    def __init__(self) -> None:
        self._segments: list[Segment] = []
        self._lock = threading.Lock()
        self.services: set[str] = set()
        self.operations: set[tuple[str, str, int]] = set()

    def add(self, segment: Segment) -> None:
        self._segments.append(segment)  # atomic; a reader's snapshot may or may not see it

    def drop_up_to(self, segment_id: int) -> None:
        with self._lock:
            self._segments = [s for s in self._segments if s.id > segment_id]

    def snapshot(self) -> list[Segment]:
        return self._segments

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    def newest_before(self, received_s: float) -> int | None:
        """The id of the newest segment received before ``received_s``, or None."""
        older = [s.id for s in self._segments if s.received_s < received_s]
        return older[-1] if older else None
