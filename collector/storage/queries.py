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
RAW_CACHE_BYTES = 16 << 20  # stored bytes of segments read but not decoded (filter misses)
DEPENDENCY_SPAN_CAP = 500_000  # /api/dependencies reads at most this many recent spans
Place = tuple[ResourceSpans, ScopeSpans, list[Span]]  # where some spans of one trace are


class Decoded:
    """A decoded segment and, built on first use, where each trace's spans are in it."""

    __slots__ = ("_places", "message")

    def __init__(self, message: Message) -> None:
        self.message = message
        self._places: dict[bytes, list[Place]] | None = None

    def places(self) -> dict[bytes, list[Place]]:
        """trace id -> (resource, scope, spans) holding its spans; one pass, then kept."""
        if self._places is None:
            places: dict[bytes, list[Place]] = {}
            for rs in getattr(self.message, "resource_spans", ()):
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        found = places.get(span.trace_id)
                        if found is None:
                            places[span.trace_id] = [(rs, ss, [span])]
                        elif found[-1][1] is ss:
                            found[-1][2].append(span)
                        else:
                            found.append((rs, ss, [span]))
            self._places = places
        return self._places


class Reader:
    """Queries over a segment index; ``fetch(segment id)`` returns a segment's stored bytes
    (None once retention deleted it). Thread-safe: reader threads share the caches: the newest
    decoded segments (with their trace places), and the bytes of segments read but left
    undecoded because their bytes ruled them out (a Bloom false positive, a tag filter miss),
    so asking again costs a substring search, not a read."""

    def __init__(self, index: SegmentIndex, fetch: Callable[[int], bytes | None]) -> None:
        self.index = index
        self._fetch = fetch
        self._cache: OrderedDict[int, Decoded] = OrderedDict()
        self._raw: OrderedDict[int, bytes] = OrderedDict()
        self._raw_bytes = 0
        self._lock = threading.Lock()

    def _load(
        self, segment: Segment, kind: type[Message], checks: list[list[bytes]] | None = None
    ) -> Decoded | None:
        """The segment decoded (from the cache if there); None if it is gone or its bytes fail
        ``checks`` (see prefilter.byte_checks)."""
        with self._lock:
            cached = self._cache.get(segment.id)
            if cached is not None:
                self._cache.move_to_end(segment.id)
                return cached
            data = self._raw.get(segment.id)
        if data is None:
            data = self._fetch(segment.id)
            if data is None:
                return None
        if checks and not prefilter.bytes_may_match(data, checks):
            self._keep_raw(segment.id, data)
            return None
        decoded = Decoded(kind.FromString(data))
        with self._lock:
            self._cache[segment.id] = decoded
            while len(self._cache) > CACHE_SEGMENTS:
                self._cache.popitem(last=False)
        return decoded

    def _keep_raw(self, segment_id: int, data: bytes) -> None:
        with self._lock:
            if segment_id in self._raw or len(data) > RAW_CACHE_BYTES // 4:
                return
            self._raw[segment_id] = data
            self._raw_bytes += len(data)
            while self._raw_bytes > RAW_CACHE_BYTES:
                self._raw_bytes -= len(self._raw.popitem(last=False)[1])

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
        filters (an integer AND per segment and id), then only segments whose bytes hold one
        of the ids are decoded, and each decoded segment's spans are indexed by trace once."""
        out: dict[bytes, list[ResourceSpans]] = {t: [] for t in trace_ids}
        probes = [(t, bloom.probes(t)) for t in trace_ids]
        masks: dict[int, list[tuple[bytes, int]]] = {}
        for segment in self.index.snapshot():
            if segment.signal != TRACES:
                continue
            size = len(segment.bloom)
            sized = masks.get(size)
            if sized is None:
                sized = masks[size] = [(t, bloom.mask(h, size)) for t, h in probes]
            bits = segment.bits
            wanted = [t for t, m in sized if bits & m == m]
            if wanted:
                decoded = self._load(segment, ExportTraceServiceRequest, [wanted])
                if decoded is not None:
                    _pick_spans(decoded.places(), wanted, out)
        return out

    def logs(self, trace_id: bytes) -> list[ResourceLogs]:
        """Log records carrying ``trace_id``."""
        out: list[ResourceLogs] = []
        for segment in self._holding(trace_id, LOGS):
            decoded = self._load(segment, ExportLogsServiceRequest, [[trace_id]])
            request = decoded.message if decoded is not None else None
            for rl in getattr(request, "resource_logs", ()):
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
            decoded = self._load(segment, ExportTraceServiceRequest, checks)
            if decoded is not None:
                _match_into(decoded.message, q, found)
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
            decoded = self._load(segment, ExportTraceServiceRequest)
            for rs in getattr(decoded and decoded.message, "resource_spans", ()):
                _collect_links(rs, start_ns, end_ns, services, children)
        calls: dict[tuple[str, str], int] = {}
        for trace_id, parent, child in children:
            caller = services.get((trace_id, parent))
            if caller is not None and caller != child:
                calls[(caller, child)] = calls.get((caller, child), 0) + 1
        return [(p, c, n) for (p, c), n in sorted(calls.items())]


def _pick_spans(
    places: dict[bytes, list[Place]], wanted: list[bytes], out: dict[bytes, list[ResourceSpans]]
) -> None:
    """Append to ``out[t]`` the spans of each wanted trace ``t``, a ResourceSpans per resource."""
    for t in wanted:
        last: ResourceSpans | None = None
        source: ResourceSpans | None = None
        for rs, ss, spans in places.get(t, ()):
            scope = ScopeSpans(scope=ss.scope, schema_url=ss.schema_url, spans=spans)
            if last is not None and rs is source:
                last.scope_spans.append(scope)
                continue
            last = ResourceSpans(resource=rs.resource, schema_url=rs.schema_url,
                                 scope_spans=[scope])  # fmt: skip
            source = rs
            out[t].append(last)


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


def _match_into(request: Message, q: TraceQuery, found: dict[bytes, int]) -> None:
    for rs in getattr(request, "resource_spans", ()):
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
