"""Builders of OTLP batches for the collector's tests."""

from __future__ import annotations

import itertools

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

_counter = itertools.count(1)
T0 = 1_700_000_000_000_000_000  # ns


def trace_id(n: int) -> bytes:
    return bytes.fromhex(f"{n:032x}")[::-1]  # varied leading bytes, like a random id


def span_id(n: int) -> bytes:
    return n.to_bytes(8, "big")


def attr(key: str, value: str | int | bool) -> KeyValue:
    kv = KeyValue(key=key)
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    else:
        kv.value.string_value = value
    return kv


def span(
    trace: int,
    name: str = "GET /",
    *,
    parent: int = 0,
    start: int = T0,
    duration_ns: int = 1_000_000,
    kind: int = Span.SPAN_KIND_SERVER,
    error: bool = False,
    attrs: dict[str, str | int | bool] | None = None,
    sid: int | None = None,
) -> Span:
    s = Span(
        trace_id=trace_id(trace),
        span_id=span_id(sid if sid is not None else next(_counter)),
        parent_span_id=span_id(parent) if parent else b"",
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration_ns,
    )
    s.attributes.extend(attr(k, v) for k, v in (attrs or {}).items())
    if error:
        s.status.code = Status.STATUS_CODE_ERROR
    return s


def resource_spans(service: str, spans: list[Span], scope: str = "test") -> ResourceSpans:
    rs = ResourceSpans()
    rs.resource.attributes.append(attr("service.name", service))
    ss = rs.scope_spans.add()
    ss.scope.name = scope
    ss.spans.extend(spans)
    return rs


def request(*batches: ResourceSpans) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(resource_spans=list(batches))


def logs_request(service: str, trace: int, body: str) -> ExportLogsServiceRequest:
    rl = ResourceLogs()
    rl.resource.attributes.append(attr("service.name", service))
    record = rl.scope_logs.add().log_records.add()
    record.trace_id = trace_id(trace)
    record.time_unix_nano = T0
    record.body.string_value = body
    return ExportLogsServiceRequest(resource_logs=[rl])
