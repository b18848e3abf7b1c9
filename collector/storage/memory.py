"""An in-memory trace store for tests: the SQLite store's index and queries, without a file.

Batches are encoded into segments synchronously in ``consume_*`` (so ``durable`` has nothing to
wait for); ``max_segments`` bounds memory by dropping the oldest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from collector.otlp.spanbatch import SpanBatch
from collector.storage import bloom, schema
from collector.storage.api import StoreStats, TraceQuery
from collector.storage.queries import Reader
from collector.storage.segments import (
    LOGS,
    TRACES,
    Segment,
    SegmentIndex,
    Summary,
    summarize_logs,
    summarize_spans,
)


class MemoryStore:
    """See ``api.TraceStore``. Queries run on the event loop thread (tests only)."""

    def __init__(self, max_segments: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.index = SegmentIndex()
        self._bodies: dict[int, bytes] = {}
        self._reader = Reader(self.index, self._bodies.get)
        self._max_segments = max_segments
        self._clock = clock
        self._next_id = 1

    async def start(self) -> None:
        pass

    async def shutdown(self) -> None:
        self._bodies.clear()

    def consume_traces(self, batch: Sequence[ResourceSpans]) -> None:
        self.consume_spans(SpanBatch.read(batch, check=False))

    def consume_spans(self, batch: SpanBatch) -> None:
        body = batch.raw if batch.raw is not None else schema.encode_request(batch.resources)
        self._add(TRACES, body, summarize_spans(batch))

    def consume_logs(self, batch: Sequence[ResourceLogs]) -> None:
        self._add(LOGS, schema.encode_request(batch), summarize_logs(batch))

    def _add(self, signal: int, body: bytes, summary: Summary) -> None:
        segment_id, self._next_id = self._next_id, self._next_id + 1
        ids = bloom.make(summary.trace_ids)
        self._bodies[segment_id] = body
        self.index.add(Segment(segment_id, signal, self._clock(), len(body), ids, summary.services))
        self.index.operations |= summary.operations()
        self.index.services.update(summary.services)
        if len(self._bodies) > self._max_segments:
            oldest = min(self._bodies)
            del self._bodies[oldest]
            self.index.drop_up_to(oldest)

    async def durable(self) -> None:
        pass

    async def trace(self, trace_id: bytes) -> list[ResourceSpans]:
        return self._reader.trace(trace_id)

    async def find_traces(self, query: TraceQuery) -> list[list[ResourceSpans]]:
        return self._reader.find_traces(query)

    async def services(self) -> list[str]:
        return sorted(self.index.services)

    async def operations(self, service: str) -> list[tuple[str, int]]:
        return sorted((n, k) for s, n, k in self.index.operations if s == service)

    async def logs(self, trace_id: bytes) -> list[ResourceLogs]:
        return self._reader.logs(trace_id)

    async def dependencies(self, start_ns: int, end_ns: int) -> list[tuple[str, str, int]]:
        return self._reader.dependencies(start_ns, end_ns)

    def stats(self) -> StoreStats:
        return StoreStats(0, 0, self.index.size_bytes)
