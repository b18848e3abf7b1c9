"""OTLP spans as Jaeger's v1 JSON trace model (what Jaeger UI and Grafana's Jaeger data source
read): the mapping of the OpenTelemetry Collector's Jaeger translator.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

from collector.otlp.attrs import plain, service_name
from collector.query.params import jaeger_trace_id
from collector.storage.api import KIND_NAMES, STATUS_NAMES

MAX_SAFE_INT = 2**53 - 1


def tag(key: str, value: AnyValue) -> dict[str, Any]:
    """One Jaeger KeyValue: typed string, bool, int64, float64 or binary."""
    kind = value.WhichOneof("value")
    if kind == "bool_value":
        return {"key": key, "type": "bool", "value": value.bool_value}
    if kind == "int_value":
        number = value.int_value
        shown: Any = number if -MAX_SAFE_INT <= number <= MAX_SAFE_INT else str(number)
        return {"key": key, "type": "int64", "value": shown}
    if kind == "double_value":
        return {"key": key, "type": "float64", "value": value.double_value}
    if kind == "bytes_value":
        return {"key": key, "type": "binary", "value": base64.b64encode(value.bytes_value).decode()}
    if kind in ("array_value", "kvlist_value"):
        text = json.dumps(plain(value), default=lambda b: b.hex(), separators=(",", ":"))
        return {"key": key, "type": "string", "value": text}
    return {"key": key, "type": "string", "value": value.string_value}


def _string(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "type": "string", "value": value}


def _tags(attributes: Any) -> list[dict[str, Any]]:
    return [tag(kv.key, kv.value) for kv in attributes]


def span_tags(span: Span, scope: InstrumentationScope) -> list[dict[str, Any]]:
    tags = []
    if scope.name:
        tags.append(_string("otel.scope.name", scope.name))
    if scope.version:
        tags.append(_string("otel.scope.version", scope.version))
    tags += _tags(span.attributes)
    if span.kind in KIND_NAMES:
        tags.append(_string("span.kind", KIND_NAMES[span.kind]))
    if span.status.code in STATUS_NAMES:
        tags.append(_string("otel.status_code", STATUS_NAMES[span.status.code]))
    if span.status.code == Status.STATUS_CODE_ERROR:
        tags.append({"key": "error", "type": "bool", "value": True})
    if span.status.message:
        tags.append(_string("otel.status_description", span.status.message))
    if span.trace_state:
        tags.append(_string("w3c.tracestate", span.trace_state))
    return tags


def references(span: Span) -> list[dict[str, Any]]:
    refs = []
    if span.parent_span_id:
        refs.append({"refType": "CHILD_OF", "traceID": jaeger_trace_id(span.trace_id),
                     "spanID": span.parent_span_id.hex()})  # fmt: skip
    for link in span.links:
        child_of = any(
            kv.key == "opentracing.ref_type" and kv.value.string_value == "child_of"
            for kv in link.attributes
        )
        ref_type = "CHILD_OF" if child_of else "FOLLOWS_FROM"
        link_trace = jaeger_trace_id(link.trace_id)
        refs.append({"refType": ref_type, "traceID": link_trace, "spanID": link.span_id.hex()})
    return refs


def logs(span: Span) -> list[dict[str, Any]]:
    out = []
    for event in span.events:
        fields = _tags(event.attributes)
        if event.name and not any(kv.key == "event" for kv in event.attributes):
            fields.insert(0, _string("event", event.name))
        out.append({"timestamp": event.time_unix_nano // 1000, "fields": fields})
    return out


def span_json(span: Span, scope: InstrumentationScope, process_id: str) -> dict[str, Any]:
    start = span.start_time_unix_nano
    return {
        "traceID": jaeger_trace_id(span.trace_id),
        "spanID": span.span_id.hex(),
        "operationName": span.name,
        "references": references(span),
        "startTime": start // 1000,
        "duration": max(0, span.end_time_unix_nano - start) // 1000,
        "tags": span_tags(span, scope),
        "logs": logs(span),
        "processID": process_id,
        "warnings": None,
    }


def process(rs: ResourceSpans) -> dict[str, Any]:
    tags = [tag(kv.key, kv.value) for kv in rs.resource.attributes if kv.key != "service.name"]
    return {"serviceName": service_name(rs.resource), "tags": tags}


def trace_json(trace: list[ResourceSpans]) -> dict[str, Any]:
    """One Jaeger trace: spans in start order, processes p1, p2, ... deduplicated."""
    processes: dict[str, dict[str, Any]] = {}
    seen: dict[str, str] = {}
    spans: list[dict[str, Any]] = []
    for rs in trace:
        proc = process(rs)
        fingerprint = json.dumps(proc, sort_keys=True)
        pid = seen.get(fingerprint)
        if pid is None:
            pid = seen[fingerprint] = f"p{len(seen) + 1}"
            processes[pid] = proc
        spans.extend(span_json(s, ss.scope, pid) for ss in rs.scope_spans for s in ss.spans)
    spans.sort(key=lambda s: s["startTime"])
    return {"traceID": spans[0]["traceID"] if spans else "", "spans": spans,
            "processes": processes, "warnings": None}  # fmt: skip
