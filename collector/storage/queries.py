"""The read side of the store: trace lookups, searches, logs and dependencies over segments.

Functions here run in reader threads. They consult the segment index first (Bloom filters,
per-service start ranges) and decode only the segments that may hold an answer; decoded
segments are kept in a small LRU cache shared by the readers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TypeVar

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector.otlp.attrs import service_name
from collector.storage import bloom, prefilter
from collector.storage.api import Origin, TraceQuery, tags_match
from collector.storage.segments import LOGS, TRACES, Segment, SegmentIndex

M = TypeVar("M", bound=Message)
CACHE_SEGMENTS = 64
DEPENDENCY_SPAN_CAP = 500_000  # /api/dependencies reads at most this many recent spans


class Reader:
    """Queries over a segment index; ``fetch(segment id)`` returns a segment's stored bytes
    (None once retention deleted it). Thread-safe: reader threads share the decode cache."""

    def __init__(self, index: SegmentIndex, fetch: Callable[[int], bytes | None]) -> None:
        self.index = index
        self._fetch = fetch
        self._cache: OrderedDict[int, Message] = OrderedDict()
        self._lock = threading.Lock()

    def _load(
        self, segment: Segment, kind: type[M], checks: list[list[bytes]] | None = None
    ) -> M | None:
        """The segment decoded (from the cache if there); None if it is gone or its bytes fail
        ``checks`` (see prefilter.byte_checks)."""
        with self._lock:
            cached = self._cache.get(segment.id)
            if cached is not None:
                self._cache.move_to_end(segment.id)
                return cached  # type: ignore[return-value]
        data = self._fetch(segment.id)
        if data is None or (checks and not prefilter.bytes_may_match(data, checks)):
            return None
        message = kind.FromString(data)
        with self._lock:
            self._cache[segment.id] = message
            while len(self._cache) > CACHE_SEGMENTS:
                self._cache.popitem(last=False)
        return message

    def _holding(self, trace_id: bytes, signal: int) -> Iterator[Segment]:
        hashes = bloom.probes(trace_id)
        for segment in self.index.snapshot():
            if segment.signal == signal and bloom.may_hold(segment.bloom, hashes):
                yield segment

    def trace(self, trace_id: bytes) -> list[ResourceSpans]:
        """Every stored span of ``trace_id``, grouped as it arrived."""
        return self.traces([trace_id])[trace_id]

    def traces(self, trace_ids: list[bytes]) -> dict[bytes, list[ResourceSpans]]:
        """Every stored span of each id, grouped as it arrived: one pass over the segment
        filters and one over each segment's spans, whatever the number of ids."""
        out: dict[bytes, list[ResourceSpans]] = {t: [] for t in trace_ids}
        probes = [(t, bloom.probes(t)) for t in trace_ids]
        for segment in self.index.snapshot():
            if segment.signal != TRACES:
                continue
            wanted = {t for t, h in probes if bloom.may_hold(segment.bloom, h)}
            request = self._load(segment, ExportTraceServiceRequest) if wanted else None
            for rs in request.resource_spans if request is not None else ():
                _pick_spans(rs, wanted, out)
        return out

    def logs(self, trace_id: bytes) -> list[ResourceLogs]:
        """Log records carrying ``trace_id``."""
        out: list[ResourceLogs] = []
        for segment in self._holding(trace_id, LOGS):
            request = self._load(segment, ExportLogsServiceRequest)
            for rl in request.resource_logs if request is not None else ():
                scopes = [
                    ScopeLogs(scope=sl.scope, log_records=records)
                    for sl in rl.scope_logs
                    if (records := [r for r in sl.log_records if r.trace_id == trace_id])
                ]
                if scopes:
                    out.append(ResourceLogs(resource=rl.resource, scope_logs=scopes))
        return out

    def find_traces(self, q: TraceQuery) -> list[list[ResourceSpans]]:
        """The newest ``q.limit`` traces with a span matching ``q``, newest first."""
        found: dict[bytes, int] = {}
        for segment, flags in self._candidates(q):
            checks = prefilter.byte_checks(q, flags)
            request = self._load(segment, ExportTraceServiceRequest, checks)
            if request is not None:
                _match_into(request, q, found)
            if len(found) >= q.limit:
                break
        newest = sorted(found, key=found.__getitem__, reverse=True)[: q.limit]
        whole = self.traces(newest)
        return [whole[t] for t in newest if whole[t]]

    def _candidates(self, q: TraceQuery) -> Iterator[tuple[Segment, int]]:
        """Trace segments, newest first, whose summary allows a match; with their flags."""
        for segment in reversed(self.index.snapshot()):
            if segment.signal != TRACES:
                continue
            flags = prefilter.summary_flags(segment, q)
            if flags is not None:
                yield segment, flags

    def dependencies(self, start_ns: int, end_ns: int) -> list[tuple[str, str, int]]:
        """Calls between services: a span whose parent is in another service, child started in
        the window. Reads the newest spans first, at most DEPENDENCY_SPAN_CAP."""
        services: dict[tuple[bytes, bytes], str] = {}
        children: list[tuple[bytes, bytes, str]] = []
        for segment in reversed(self.index.snapshot()):
            if len(services) >= DEPENDENCY_SPAN_CAP:
                break
            if not any(e[1] >= start_ns and e[0] <= end_ns for e in segment.services.values()):
                continue
            request = self._load(segment, ExportTraceServiceRequest)
            for rs in request.resource_spans if request is not None else ():
                _collect_links(rs, start_ns, end_ns, services, children)
        calls: dict[tuple[str, str], int] = {}
        for trace_id, parent, child in children:
            caller = services.get((trace_id, parent))
            if caller is not None and caller != child:
                calls[(caller, child)] = calls.get((caller, child), 0) + 1
        return [(p, c, n) for (p, c), n in sorted(calls.items())]


def _pick_spans(
    rs: ResourceSpans, wanted: set[bytes], out: dict[bytes, list[ResourceSpans]]
) -> None:
    """Append to ``out[t]`` the spans of ``rs`` whose trace id ``t`` is wanted."""
    by_trace: dict[bytes, list[ScopeSpans]] = {}
    for ss in rs.scope_spans:
        spans: dict[bytes, list[Span]] = {}
        for span in ss.spans:
            if span.trace_id in wanted:
                spans.setdefault(span.trace_id, []).append(span)
        for t, picked in spans.items():
            scope = ScopeSpans(scope=ss.scope, schema_url=ss.schema_url, spans=picked)
            by_trace.setdefault(t, []).append(scope)
    for t, scopes in by_trace.items():
        out[t].append(ResourceSpans(resource=rs.resource, schema_url=rs.schema_url,
                                    scope_spans=scopes))  # fmt: skip


def _collect_links(
    rs: ResourceSpans,
    start_ns: int,
    end_ns: int,
    services: dict[tuple[bytes, bytes], str],
    children: list[tuple[bytes, bytes, str]],
) -> None:
    service = service_name(rs.resource)
    for ss in rs.scope_spans:
        for span in ss.spans:
            services[(span.trace_id, span.span_id)] = service
            if span.parent_span_id and start_ns <= span.start_time_unix_nano <= end_ns:
                children.append((span.trace_id, span.parent_span_id, service))


def _match_into(request: ExportTraceServiceRequest, q: TraceQuery, found: dict[bytes, int]) -> None:
    for rs in request.resource_spans:
        if service_name(rs.resource) != q.service:
            continue
        for ss in rs.scope_spans:
            origin = Origin(rs.resource, ss.scope, q.service)
            for span in ss.spans:
                if _span_matches(span, origin, q):
                    start = span.start_time_unix_nano
                    found[span.trace_id] = max(start, found.get(span.trace_id, 0))


def _span_matches(span: Span, origin: Origin, q: TraceQuery) -> bool:
    start = span.start_time_unix_nano
    if not q.start_min_ns <= start <= q.start_max_ns:
        return False
    if q.operation is not None and span.name != q.operation:
        return False
    duration = span.end_time_unix_nano - start
    if q.min_duration_ns is not None and duration < q.min_duration_ns:
        return False
    if q.max_duration_ns is not None and duration > q.max_duration_ns:
        return False
    return tags_match(span, origin, q.tags)
