"""OTLP JSON in and out: hex ids, enums as numbers or names, int64 as strings, unknown fields."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.otlp.otlpjson import JsonDecodeError, decode, encode, to_dict
from collector.otlp.spanbatch import SpanBatch

TRACE_HEX = "5b8efff798038103d269b633813fc60c"
SPAN_HEX = "eee19b7ec3c1b174"
PARENT_HEX = "eee19b7ec3c1b173"


def _traces(**span: Any) -> bytes:
    doc = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
        "scopeSpans": [{"scope": {"name": "lib"}, "spans": [span]}],
    }]}  # fmt: skip
    return json.dumps(doc).encode()


def _span(body: bytes) -> Span:
    request = decode(body, ExportTraceServiceRequest)
    return request.resource_spans[0].scope_spans[0].spans[0]


def _base(**extra: Any) -> dict[str, Any]:
    return {"traceId": TRACE_HEX, "spanId": SPAN_HEX, "name": "GET /cart",
            "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000000001000000", **extra}  # fmt: skip


def test_a_span_decodes_with_hex_ids_and_string_int64() -> None:
    span = _span(_traces(**_base(parentSpanId=PARENT_HEX, kind=2)))
    assert span.trace_id == bytes.fromhex(TRACE_HEX)
    assert span.span_id == bytes.fromhex(SPAN_HEX)
    assert span.parent_span_id == bytes.fromhex(PARENT_HEX)
    assert span.start_time_unix_nano == 1_700_000_000_000_000_000
    assert span.end_time_unix_nano == 1_700_000_000_001_000_000
    assert span.kind == Span.SPAN_KIND_SERVER


def test_hex_ids_in_any_case() -> None:
    span = _span(_traces(**_base(traceId=TRACE_HEX.upper(), spanId="EeE19b7Ec3c1B174")))
    assert span.trace_id.hex() == TRACE_HEX
    assert span.span_id.hex() == SPAN_HEX


def test_int64_as_json_numbers_too() -> None:
    span = _span(_traces(**_base(startTimeUnixNano=1_700_000_000_000_000_000)))
    assert span.start_time_unix_nano == 1_700_000_000_000_000_000


@pytest.mark.parametrize("kind", [3, "SPAN_KIND_CLIENT"])
def test_enums_as_integers_or_names(kind: int | str) -> None:
    body = _traces(**_base(kind=kind, status={"code": 2 if kind == 3 else "STATUS_CODE_ERROR"}))
    span = _span(body)
    assert span.kind == Span.SPAN_KIND_CLIENT
    assert span.status.code == 2


def test_an_enum_name_from_a_newer_version_is_ignored_like_an_unknown_field() -> None:
    assert _span(_traces(**_base(kind="SPAN_KIND_FROM_THE_FUTURE"))).kind == 0


def test_unknown_fields_are_ignored_at_every_level() -> None:
    doc = json.loads(_traces(**_base(futureField={"x": 1})))
    doc["newTopLevel"] = [1, 2]
    doc["resourceSpans"][0]["somethingElse"] = "y"
    doc["resourceSpans"][0]["scopeSpans"][0]["scope"]["extra"] = True
    request = decode(json.dumps(doc).encode(), ExportTraceServiceRequest)
    assert request.resource_spans[0].scope_spans[0].spans[0].name == "GET /cart"


def test_snake_case_keys_are_accepted() -> None:
    ids = {"trace_id": TRACE_HEX, "span_id": SPAN_HEX, "parent_span_id": PARENT_HEX}
    doc = {"resource_spans": [{"scope_spans": [{"spans": [ids]}]}]}
    span = _span(json.dumps(doc).encode())
    assert (span.trace_id.hex(), span.parent_span_id.hex()) == (TRACE_HEX, PARENT_HEX)


def test_attributes_of_every_type() -> None:
    attrs = [
        {"key": "s", "value": {"stringValue": "x"}},
        {"key": "i", "value": {"intValue": "9007199254740993"}},
        {"key": "d", "value": {"doubleValue": 1.5}},
        {"key": "b", "value": {"boolValue": True}},
        {"key": "a", "value": {"arrayValue": {"values": [{"intValue": 1}]}}},
    ]
    span = _span(_traces(**_base(attributes=attrs)))
    assert [kv.value.WhichOneof("value") for kv in span.attributes] == [
        "string_value", "int_value", "double_value", "bool_value", "array_value"]  # fmt: skip
    assert span.attributes[1].value.int_value == 9_007_199_254_740_993


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("traceId", "not-hex-at-all", "invalid_trace_id"),
        ("traceId", "W47/95gDgQPSabYzgT/GDA==", "invalid_trace_id"),  # base64 is not OTLP JSON
        ("traceId", "5b8efff7980381", "invalid_trace_id"),  # hex, but 7 bytes
        ("traceId", 12345, "invalid_trace_id"),
        ("traceId", "0" * 32, "invalid_trace_id"),
        ("spanId", "xyz", "invalid_span_id"),
        ("spanId", SPAN_HEX + "00", "invalid_span_id"),
        ("parentSpanId", "abc", "invalid_parent_span_id"),
    ],
)
def test_bad_ids_decode_but_the_span_is_rejected(field: str, value: Any, reason: str) -> None:
    request = decode(_traces(**_base(**{field: value})), ExportTraceServiceRequest)
    batch = SpanBatch.read(request.resource_spans)
    assert batch.spans == 0
    assert dict(batch.rejected) == {reason: 1}


def test_link_ids_are_hex_too() -> None:
    link = {"traceId": TRACE_HEX.upper(), "spanId": PARENT_HEX}
    span = _span(_traces(**_base(links=[link])))
    assert (span.links[0].trace_id.hex(), span.links[0].span_id.hex()) == (TRACE_HEX, PARENT_HEX)


def test_log_record_and_exemplar_ids() -> None:
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"traceId": TRACE_HEX, "spanId": SPAN_HEX, "severityNumber": "SEVERITY_NUMBER_WARN",
         "body": {"stringValue": "hi"}}]}]}]}  # fmt: skip
    record = decode(json.dumps(logs).encode(), ExportLogsServiceRequest).resource_logs[0]
    log = record.scope_logs[0].log_records[0]
    assert (log.trace_id.hex(), log.span_id.hex(), log.severity_number) == (TRACE_HEX, SPAN_HEX, 13)
    metrics = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "m", "sum": {
        "dataPoints": [{"asInt": "5", "exemplars": [
            {"traceId": TRACE_HEX, "spanId": SPAN_HEX, "asDouble": 1.0}]}]}}]}]}]}  # fmt: skip
    request = decode(json.dumps(metrics).encode(), ExportMetricsServiceRequest)
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0]
    assert (point.as_int, point.exemplars[0].trace_id.hex()) == (5, TRACE_HEX)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'"a string"',
        b'{"resourceSpans": "not a list"}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
        "\ufeff{".encode(),
    ],
)
def test_undecodable_bodies_raise_json_decode_error(body: bytes) -> None:
    with pytest.raises(JsonDecodeError):
        decode(body, ExportTraceServiceRequest)


def test_output_has_lower_case_hex_ids_integer_enums_and_string_int64() -> None:
    body = _traces(
        **_base(traceId=TRACE_HEX.upper(), kind="SPAN_KIND_SERVER", parentSpanId=PARENT_HEX)
    )
    request = decode(body, ExportTraceServiceRequest)
    span = to_dict(request)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span == {
        "traceId": TRACE_HEX, "spanId": SPAN_HEX, "parentSpanId": PARENT_HEX,
        "name": "GET /cart", "kind": 2, "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000001000000",
    }  # fmt: skip


def test_encode_then_decode_is_the_same_message() -> None:
    request = decode(_traces(**_base(kind=3, links=[{"traceId": TRACE_HEX, "spanId": SPAN_HEX}])),
                     ExportTraceServiceRequest)  # fmt: skip
    assert decode(encode(request), ExportTraceServiceRequest) == request
    assert b'"kind":3' in encode(request)  # compact
