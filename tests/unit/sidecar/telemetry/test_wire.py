"""What ``wire`` writes decodes with the generated OTLP classes, field for field."""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from sidecar.telemetry import wire


def test_a_span_with_every_attribute_kind_decodes() -> None:
    long_value = "x" * 300  # a length past one varint byte
    encoded = wire.span(
        trace_id=bytes(range(16)), span_id=bytes(range(8)), parent_span_id=b"\x01" * 8,
        name="GET", kind=Span.SPAN_KIND_CLIENT, start_ns=2**62, end_ns=2**62 + 5,
        attributes=[wire.attribute("s", long_value), wire.attribute("i", -3),
                    wire.attribute("b", True), wire.attribute("n", 2**40)],
        error=True, flags=0x301,
    )  # fmt: skip
    scope = InstrumentationScope(name="t").SerializeToString()
    body = wire.export_request(Resource().SerializeToString(), scope, [encoded, encoded])
    [resource_spans] = ExportTraceServiceRequest.FromString(body).resource_spans
    [scope_spans] = resource_spans.scope_spans
    assert scope_spans.scope.name == "t" and len(scope_spans.spans) == 2
    span = scope_spans.spans[0]
    assert span.trace_id == bytes(range(16)) and span.parent_span_id == b"\x01" * 8
    assert (span.name, span.kind, span.flags) == ("GET", Span.SPAN_KIND_CLIENT, 0x301)
    assert span.end_time_unix_nano - span.start_time_unix_nano == 5
    assert span.status.code == Status.STATUS_CODE_ERROR
    values = {kv.key: kv.value for kv in span.attributes}
    assert values["s"].string_value == long_value and values["i"].int_value == -3
    assert values["b"].bool_value is True and values["n"].int_value == 2**40


def test_a_log_record_decodes() -> None:
    record = wire.log_record(time_ns=10, observed_ns=11, body=b"line", trace_id=b"\x02" * 16,
                             span_id=b"\x03" * 8, flags=1)  # fmt: skip
    body = wire.export_request(b"", b"", [record])
    [decoded] = ExportLogsServiceRequest.FromString(body).resource_logs[0].scope_logs[0].log_records
    assert (decoded.time_unix_nano, decoded.observed_time_unix_nano) == (10, 11)
    assert decoded.body.string_value == "line" and decoded.severity_text == "INFO"
    assert decoded.span_id == b"\x03" * 8 and decoded.flags == 1


def test_attributes_encoded_ahead_decode_with_the_others() -> None:
    encoded = wire.span(
        trace_id=b"\x01" * 16, span_id=b"\x02" * 8, parent_span_id=b"", name="GET", kind=2,
        start_ns=1, end_ns=2, attributes=[wire.attribute("a", "x")], error=False, flags=0x101,
        encoded_attributes=wire.attributes([("b", 7), ("c", False)]),
    )  # fmt: skip
    body = wire.export_request(b"", b"", [encoded])
    [span] = ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans
    values = {kv.key: kv.value for kv in span.attributes}
    assert values["a"].string_value == "x" and values["b"].int_value == 7
    assert values["c"].HasField("bool_value") and values["c"].bool_value is False
    assert span.flags == 0x101
