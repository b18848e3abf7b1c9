"""What a trace store offers: durable ingest and the queries the Jaeger API needs.

Both stores (``sqlite.SqliteStore``, ``memory.MemoryStore``) implement ``TraceStore``; queries
are coroutines that run off the event loop thread where that matters, and return OTLP messages so
either Jaeger API can render them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

from collector.otlp.attrs import as_text, find

MAX_NS = 2**63 - 1
KIND_NAMES = {
    Span.SPAN_KIND_INTERNAL: "internal",
    Span.SPAN_KIND_SERVER: "server",
    Span.SPAN_KIND_CLIENT: "client",
    Span.SPAN_KIND_PRODUCER: "producer",
    Span.SPAN_KIND_CONSUMER: "consumer",
}
STATUS_NAMES = {Status.STATUS_CODE_OK: "OK", Status.STATUS_CODE_ERROR: "ERROR"}


@dataclass(frozen=True)
class TraceQuery:
    """A search: spans of ``service`` starting in [start_min_ns, start_max_ns] that match every
    given condition; the ``limit`` traces holding the most recent matches, newest first."""

    service: str
    start_min_ns: int
    start_max_ns: int
    operation: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    limit: int = 100


@dataclass(frozen=True)
class Origin:
    """The resource and instrumentation scope that spans or log records share."""

    resource: Resource
    scope: InstrumentationScope
    service: str


@dataclass(frozen=True)
class StoreStats:
    """Figures for /metrics."""

    queued_batches: int
    queued_bytes: int
    size_bytes: int


class TraceStore(Protocol):
    """A TracesConsumer and LogsConsumer with queries. ``consume_*`` never block; ``durable``
    waits until everything consumed so far would survive a crash."""

    def consume_traces(self, batch: Sequence[ResourceSpans]) -> None: ...

    def consume_logs(self, batch: Sequence[ResourceLogs]) -> None: ...

    async def durable(self) -> None:
        """Returns when every batch consumed before the call is committed. Raises
        StorageError if committing failed."""

    async def trace(self, trace_id: bytes) -> list[ResourceSpans]:
        """Every stored span of a trace, grouped by resource and scope; [] when none."""

    async def find_traces(self, query: TraceQuery) -> list[list[ResourceSpans]]:
        """Whole traces matching ``query``, newest first, at most ``query.limit``."""

    async def services(self) -> list[str]:
        """Service names with stored spans, sorted."""

    async def operations(self, service: str) -> list[tuple[str, int]]:
        """(span name, span kind) pairs seen for ``service``, sorted."""

    async def logs(self, trace_id: bytes) -> list[ResourceLogs]:
        """Log records carrying ``trace_id``."""

    async def dependencies(self, start_ns: int, end_ns: int) -> list[tuple[str, str, int]]:
        """(parent service, child service, calls) for parent/child spans across services whose
        child started in the window."""

    def stats(self) -> StoreStats: ...

    async def start(self) -> None: ...

    async def shutdown(self) -> None: ...


class StorageError(Exception):
    """The store failed to commit (disk full, I/O error): the batch is not durable."""


def span_tags(span: Span, origin: Origin) -> dict[str, str]:
    """Tag text of a span as a Jaeger tag search sees it: span and resource attributes plus
    span.kind, otel.status_code, error, scope name."""
    tags = {kv.key: as_text(kv.value) for kv in origin.resource.attributes}
    tags.update((kv.key, as_text(kv.value)) for kv in span.attributes)
    if span.kind in KIND_NAMES:
        tags["span.kind"] = KIND_NAMES[span.kind]
    if span.status.code in STATUS_NAMES:
        tags["otel.status_code"] = STATUS_NAMES[span.status.code]
    if span.status.code == Status.STATUS_CODE_ERROR:
        tags["error"] = "true"
    if origin.scope.name:
        tags["otel.scope.name"] = origin.scope.name
    return tags


def tag_text(span: Span, origin: Origin, key: str) -> str | None:
    """The text of one tag as ``span_tags`` would give it, without building them all."""
    if key == "span.kind" and span.kind in KIND_NAMES:
        return KIND_NAMES[span.kind]
    code = span.status.code
    if key == "otel.status_code" and code in STATUS_NAMES:
        return STATUS_NAMES[code]
    if key == "error" and code == Status.STATUS_CODE_ERROR:
        return "true"
    if key == "otel.scope.name" and origin.scope.name:
        return origin.scope.name
    kv = find(span.attributes, key) or find(origin.resource.attributes, key)
    return None if kv is None else as_text(kv.value)


def tags_match(span: Span, origin: Origin, wanted: dict[str, str]) -> bool:
    """Whether every wanted tag is on the span (or its resource, or one of its events)."""
    for key, value in wanted.items():
        if tag_text(span, origin, key) == value:
            continue
        if not any(
            (kv := find(e.attributes, key)) and as_text(kv.value) == value for e in span.events
        ):
            return False
    return True
