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
from dataclasses import dataclass, field
from typing import Any

import msgspec

from collector.storage.bloom import as_int
from collector.storage.summary import (
    ERROR_BIT,
    OK_BIT,
    Op,
    Services,
    Summary,
    summarize_logs,
    summarize_spans,
)

TRACES, LOGS = 1, 2  # the ``signal`` column; also the Export request's field number (1)
__all__ = [
    "ERROR_BIT", "LOGS", "OK_BIT", "TRACES", "Op", "Segment", "SegmentIndex", "Services",
    "Summary", "decode_services", "encode_services", "summarize_logs", "summarize_spans",
]  # fmt: skip


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
