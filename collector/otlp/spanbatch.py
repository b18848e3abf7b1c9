"""A batch of spans read once: each span's fields in a tuple, shared by storage and connectors.

Reading a field of a protobuf span costs a C call; storage, the service graph and span metrics
each read the same ten fields. ``SpanBatch.read`` reads them once per span into a ``Row``,
checks each span on the way (see ``validate``) and groups the rows by resource, so a consumer
runs one tight loop over tuples. Invalid spans are removed from the protobuf batch as well (what
storage keeps is valid), and ``raw`` (the request's own bytes, stored as they came) is then
dropped since it no longer matches the batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Final

from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span

from collector.otlp.attrs import NO_SERVICE, text

# Row fields: trace id, span id, parent span id, name, kind, start ns, end ns, status code,
# tracestate, and the protobuf span itself (for the rare reads of attributes or events).
Row = tuple[bytes, bytes, bytes, str, int, int, int, int, str, Span]
TRACE: Final = 0
SPAN: Final = 1
PARENT: Final = 2
NAME: Final = 3
KIND: Final = 4
START: Final = 5
END: Final = 6
CODE: Final = 7
STATE: Final = 8
PROTO: Final = 9
ZERO_TRACE = bytes(16)
ZERO_SPAN = bytes(8)
MAX_NS = 2**63 - 1  # times are stored as SQLite integers


class Group:
    """The rows of one ResourceSpans and who sent them."""

    __slots__ = ("namespace", "resource", "rows", "service", "stored_service")

    def __init__(self, resource: ResourceSpans, rows: list[Row]) -> None:
        self.resource = resource
        self.rows = rows
        name = namespace = k8s = ""
        stored = NO_SERVICE
        for kv in resource.resource.attributes:
            key = kv.key
            if key == "service.name":
                value = kv.value
                name = value.string_value or text(value)
                if value.HasField("string_value") and name:
                    stored = name
            elif key == "service.namespace":
                namespace = text(kv.value)
            elif key == "k8s.namespace.name":
                k8s = text(kv.value)
        self.service = name  # "" without service.name: connectors name no node for it
        self.namespace = namespace or k8s
        self.stored_service = stored  # what the query API calls it (Jaeger's placeholder)


class SpanBatch:
    """``resources`` as groups of rows; ``rejected`` counts removed spans by reason."""

    __slots__ = ("groups", "raw", "rejected", "resources", "spans")

    def __init__(
        self, resources: Sequence[ResourceSpans], groups: list[Group], raw: bytes | None
    ) -> None:
        self.resources = resources
        self.groups = groups
        self.raw = raw
        self.rejected: Counter[str] = Counter()
        self.spans = sum(len(g.rows) for g in groups)

    @classmethod
    def read(
        cls, resources: Sequence[ResourceSpans], raw: bytes | None = None, *, check: bool = True
    ) -> SpanBatch:
        """Read every span of ``resources``. With ``check``, invalid spans are left out of the
        rows, removed from ``resources`` and counted in ``rejected``."""
        groups: list[Group] = []
        rejected: Counter[str] = Counter()
        for resource in resources:
            rows: list[Row] = []
            for scope in resource.scope_spans:
                bad = _read_scope(scope.spans, rows, check)
                for index, problem in reversed(bad):
                    del scope.spans[index]
                    rejected[problem] += 1
            groups.append(Group(resource, rows))
        batch = cls(resources, groups, None if rejected else raw)
        batch.rejected = rejected
        return batch


def _read_scope(spans: Sequence[Span], rows: list[Row], check: bool) -> list[tuple[int, str]]:
    """Append a row per valid span; return (index, problem) of the invalid ones."""
    bad: list[tuple[int, str]] = []
    append = rows.append
    base = len(rows)
    for span in spans:
        trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
        start, end = span.start_time_unix_nano, span.end_time_unix_nano
        if check and (
            len(trace_id) != 16
            or len(span_id) != 8
            or trace_id == ZERO_TRACE
            or span_id == ZERO_SPAN
            or (parent and len(parent) != 8)
            or end < start
            or end > MAX_NS
        ):
            bad.append((len(rows) - base + len(bad), problem(span) or "invalid"))
            continue
        status = span.status.code if span.HasField("status") else 0  # no Status view: cheaper
        append((trace_id, span_id, parent, span.name, span.kind, start, end, status,
                span.trace_state, span))  # fmt: skip
    return bad


def problem(span: Span) -> str | None:
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
