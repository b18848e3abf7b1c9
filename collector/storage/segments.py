"""Segments: one stored batch each, and the in-memory index that finds them.

A segment is a batch as it arrived (after validation), stored as an OTLP Export request. The
index keeps, per segment, a Bloom filter of its trace ids and, per service, the start range of
its spans and per span name the duration range and what kinds and statuses occur: what trace
lookups and searches consult before reading anything. The summary is persisted with the segment
(the ``services`` column), so start-up rebuilds the index without decoding a span. The writer
thread appends and prunes; reader threads take snapshots.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs

from collector.otlp.spanbatch import SpanBatch
from collector.storage.bloom import as_int

TRACES, LOGS = 1, 2  # the ``signal`` column; also the Export request's field number (1)
ERROR_BIT, OK_BIT = 1 << 8, 1 << 9  # Op flags beside the span-kind bits (1 << kind)
Op = tuple[int, int, int]  # min duration ns, max duration ns, flags
# service -> (min start, max start, span name -> Op); ops None for segments stored before ops
# were summarised (they may match any operation, duration or tag).
Services = dict[str, tuple[int, int, dict[str, Op] | None]]


@dataclass(frozen=True)
class Segment:
    """What the index knows of one stored batch."""

    id: int
    signal: int
    received_s: float
    size: int
    bloom: bytes
    services: Services
    bits: int = field(default=0, compare=False, repr=False)  # ``bloom`` as one integer

    def __post_init__(self) -> None:
        object.__setattr__(self, "bits", as_int(self.bloom))


@dataclass
class Summary:
    """What one pass over a batch learns (writer thread)."""

    trace_ids: set[bytes] = field(default_factory=set)
    services: Services = field(default_factory=dict)

    def operations(self) -> set[tuple[str, str, int]]:
        """(service, span name, kind) seen."""
        return {
            (service, name, kind)
            for service, (_, _, ops) in self.services.items()
            for name, (_, _, flags) in (ops or {}).items()
            for kind in range(6)
            if flags & (1 << kind)
        }


def summarize_spans(batch: SpanBatch) -> Summary:
    summary = Summary()
    ids = summary.trace_ids
    for group in batch.groups:
        rows = group.rows
        if not rows:
            continue
        service = group.stored_service
        ids.update([r[0] for r in rows])
        low, high, ops = summary.services.get(service, (2**63, 0, {}))
        starts = [r[5] for r in rows]
        low, high = min(low, *starts), max(high, *starts)
        summary.services[service] = (low, high, _ops(rows, ops or {}))
    return summary


def _ops(rows: Sequence[tuple[Any, ...]], ops: dict[str, Op]) -> dict[str, Op]:
    """Fold ``rows`` into per-name duration ranges and kind/status flags."""
    acc: dict[str, list[int]] = {k: list(v) for k, v in ops.items()}
    for row in rows:
        duration = row[6] - row[5]
        flags = (1 << row[4]) | (ERROR_BIT if row[7] == 2 else OK_BIT if row[7] == 1 else 0)
        entry = acc.get(row[3])
        if entry is None:
            acc[row[3]] = [duration, duration, flags]
            continue
        if duration < entry[0]:
            entry[0] = duration
        elif duration > entry[1]:
            entry[1] = duration
        entry[2] |= flags
    return {k: (v[0], v[1], v[2]) for k, v in acc.items()}


def summarize_logs(batch: Sequence[ResourceLogs]) -> Summary:
    summary = Summary()
    for rl in batch:
        for sl in rl.scope_logs:
            summary.trace_ids.update(r.trace_id for r in sl.log_records if r.trace_id)
    return summary


def encode_services(services: Services) -> bytes:
    doc = {}
    for service, (low, high, ops) in services.items():
        doc[service] = [low, high, [[name, *op] for name, op in (ops or {}).items()]]
    return msgspec.json.encode(doc)


def decode_services(data: bytes) -> Services:
    """The stored summary; a segment written before ops were kept decodes with ops None."""
    raw: dict[str, Any] = msgspec.json.decode(data)
    out: Services = {}
    for service, value in raw.items():
        ops = None
        if len(value) > 2:
            ops = {str(n): (int(a), int(b), int(f)) for n, a, b, f in value[2]}
        out[service] = (int(value[0]), int(value[1]), ops)
    return out


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
