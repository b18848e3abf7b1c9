"""OTLP spans as Jaeger v1 JSON: the exact shapes Jaeger UI and Grafana's Jaeger data source
read."""

from __future__ import annotations

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

from collector.query.jaeger_model import trace_json

TRACE = bytes.fromhex("83a9efd15c1c98a977e0711cc93ee28b")
START_NS = 1_706_678_909_209_712_345


def _kv(key: str, **value: object) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))  # type: ignore[arg-type]


def _resource(service: str | None, *extra: KeyValue, scope: str = "telemetrygen") -> ResourceSpans:
    rs = ResourceSpans()
    if service is not None:
        rs.resource.attributes.append(_kv("service.name", string_value=service))
    rs.resource.attributes.extend(extra)
    rs.scope_spans.add().scope.name = scope
    return rs


def _span(rs: ResourceSpans, span_hex: str, **fields: object) -> Span:
    span = rs.scope_spans[0].spans.add(trace_id=TRACE, span_id=bytes.fromhex(span_hex),
                                       **fields)  # fmt: skip
    return span


def test_the_otlp2jaeger_fixture_shape() -> None:
    """jaegertracing/jaeger's otlp2jaeger-out.json, span for span."""
    rs = _resource("telemetrygen")
    span = _span(rs, "e127af99e3b3e074", parent_span_id=bytes.fromhex("909541b92cf05311"),
                 name="okey-dokey-0", kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=START_NS,
                 end_time_unix_nano=START_NS + 123_456)  # fmt: skip
    span.attributes.extend([_kv("net.peer.ip", string_value="1.2.3.4"),
                            _kv("peer.service", string_value="telemetrygen-client")])  # fmt: skip
    assert trace_json([rs]) == {
        "traceID": "83a9efd15c1c98a977e0711cc93ee28b",
        "spans": [{
            "traceID": "83a9efd15c1c98a977e0711cc93ee28b", "spanID": "e127af99e3b3e074",
            "operationName": "okey-dokey-0",
            "references": [{"refType": "CHILD_OF", "traceID": "83a9efd15c1c98a977e0711cc93ee28b",
                            "spanID": "909541b92cf05311"}],
            "startTime": 1706678909209712, "duration": 123,
            "tags": [{"key": "otel.scope.name", "type": "string", "value": "telemetrygen"},
                     {"key": "net.peer.ip", "type": "string", "value": "1.2.3.4"},
                     {"key": "peer.service", "type": "string", "value": "telemetrygen-client"},
                     {"key": "span.kind", "type": "string", "value": "server"}],
            "logs": [], "processID": "p1", "warnings": None,
        }],
        "processes": {"p1": {"serviceName": "telemetrygen", "tags": []}},
        "warnings": None,
    }  # fmt: skip


def test_tags_carry_their_types() -> None:
    rs = _resource("cart")
    span = _span(rs, "00000000000000aa", start_time_unix_nano=START_NS,
                 end_time_unix_nano=START_NS)  # fmt: skip
    array = AnyValue()
    array.array_value.values.extend([AnyValue(int_value=1), AnyValue(string_value="a")])
    span.attributes.extend([
        _kv("s", string_value="text"), _kv("b", bool_value=False), _kv("i", int_value=-42),
        _kv("big", int_value=2**53), _kv("safe", int_value=2**53 - 1),
        _kv("f", double_value=0.25), _kv("raw", bytes_value=b"\x00\xffhi"),
        KeyValue(key="arr", value=array), _kv("empty"),
    ])  # fmt: skip
    tags = trace_json([rs])["spans"][0]["tags"]
    assert tags == [
        {"key": "otel.scope.name", "type": "string", "value": "telemetrygen"},
        {"key": "s", "type": "string", "value": "text"},
        {"key": "b", "type": "bool", "value": False},
        {"key": "i", "type": "int64", "value": -42},
        {"key": "big", "type": "int64", "value": "9007199254740992"},
        {"key": "safe", "type": "int64", "value": 9007199254740991},
        {"key": "f", "type": "float64", "value": 0.25},
        {"key": "raw", "type": "binary", "value": "AP9oaQ=="},
        {"key": "arr", "type": "string", "value": '[1,"a"]'},
        {"key": "empty", "type": "string", "value": ""},
    ]


def test_status_scope_version_and_tracestate_become_tags() -> None:
    rs = _resource("cart", scope="lib")
    rs.scope_spans[0].scope.version = "1.2"
    _span(rs, "00000000000000ab", kind=Span.SPAN_KIND_CLIENT, trace_state="ot=th:8",
          status=Status(code=Status.STATUS_CODE_ERROR, message="boom"))  # fmt: skip
    assert trace_json([rs])["spans"][0]["tags"] == [
        {"key": "otel.scope.name", "type": "string", "value": "lib"},
        {"key": "otel.scope.version", "type": "string", "value": "1.2"},
        {"key": "span.kind", "type": "string", "value": "client"},
        {"key": "otel.status_code", "type": "string", "value": "ERROR"},
        {"key": "error", "type": "bool", "value": True},
        {"key": "otel.status_description", "type": "string", "value": "boom"},
        {"key": "w3c.tracestate", "type": "string", "value": "ot=th:8"},
    ]


def test_unset_kind_and_ok_status() -> None:
    rs = _resource("cart", scope="")
    _span(rs, "00000000000000ac", status=Status(code=Status.STATUS_CODE_OK))
    assert trace_json([rs])["spans"][0]["tags"] == [
        {"key": "otel.status_code", "type": "string", "value": "OK"},
    ]


def test_references_parent_first_then_links() -> None:
    rs = _resource("cart")
    span = _span(rs, "00000000000000ad", parent_span_id=bytes.fromhex("00000000000000a1"))
    other = bytes(8) + bytes.fromhex("00000000000000f1")  # a 64-bit trace id
    span.links.add(trace_id=other, span_id=bytes.fromhex("00000000000000b2"))
    link = span.links.add(trace_id=TRACE, span_id=bytes.fromhex("00000000000000B3"))
    link.attributes.append(_kv("opentracing.ref_type", string_value="child_of"))
    assert trace_json([rs])["spans"][0]["references"] == [
        {"refType": "CHILD_OF", "traceID": TRACE.hex(), "spanID": "00000000000000a1"},
        {"refType": "FOLLOWS_FROM", "traceID": "00000000000000f1", "spanID": "00000000000000b2"},
        {"refType": "CHILD_OF", "traceID": TRACE.hex(), "spanID": "00000000000000b3"},
    ]


def test_a_root_span_has_empty_references_and_logs() -> None:
    rs = _resource("cart")
    _span(rs, "00000000000000ae")
    span = trace_json([rs])["spans"][0]
    assert (span["references"], span["logs"], span["warnings"]) == ([], [], None)


def test_events_become_logs_in_microseconds() -> None:
    rs = _resource("cart")
    span = _span(rs, "00000000000000af")
    event = span.events.add(time_unix_nano=START_NS, name="retry")
    event.attributes.append(_kv("attempt", int_value=2))
    named = span.events.add(time_unix_nano=START_NS + 999, name="ignored")
    named.attributes.append(_kv("event", string_value="explicit"))
    assert trace_json([rs])["spans"][0]["logs"] == [
        {"timestamp": 1706678909209712, "fields": [
            {"key": "event", "type": "string", "value": "retry"},
            {"key": "attempt", "type": "int64", "value": 2}]},
        {"timestamp": 1706678909209713, "fields": [
            {"key": "event", "type": "string", "value": "explicit"}]},
    ]  # fmt: skip


def test_durations_in_microseconds_never_negative() -> None:
    rs = _resource("cart")
    _span(rs, "00000000000000b0", start_time_unix_nano=START_NS, end_time_unix_nano=START_NS + 999)
    _span(rs, "00000000000000b1", start_time_unix_nano=START_NS + 5_000,
          end_time_unix_nano=START_NS)  # fmt: skip
    spans = trace_json([rs])["spans"]
    assert [(s["startTime"], s["duration"]) for s in spans] == [
        (1706678909209712, 0), (1706678909209717, 0)]  # fmt: skip


def test_processes_are_deduplicated_and_spans_sorted_by_start() -> None:
    cart = _resource("cart", _kv("host.name", string_value="a"), _kv("pid", int_value=7))
    _span(cart, "0000000000000002", start_time_unix_nano=START_NS + 2000)
    again = _resource("cart", _kv("host.name", string_value="a"), _kv("pid", int_value=7))
    _span(again, "0000000000000003", start_time_unix_nano=START_NS + 3000)
    anonymous = _resource(None, _kv("host.name", string_value="b"))
    _span(anonymous, "0000000000000001", start_time_unix_nano=START_NS + 1000)
    trace = trace_json([cart, again, anonymous])
    assert [(s["spanID"], s["processID"]) for s in trace["spans"]] == [
        ("0000000000000001", "p2"),
        ("0000000000000002", "p1"),
        ("0000000000000003", "p1"),
    ]
    assert trace["processes"] == {
        "p1": {"serviceName": "cart", "tags": [
            {"key": "host.name", "type": "string", "value": "a"},
            {"key": "pid", "type": "int64", "value": 7}]},
        "p2": {"serviceName": "OTLPResourceNoServiceName", "tags": [
            {"key": "host.name", "type": "string", "value": "b"}]},
    }  # fmt: skip


def test_a_64_bit_trace_id_is_16_hex_digits() -> None:
    rs = _resource("cart")
    rs.scope_spans[0].spans.add(trace_id=bytes(8) + bytes.fromhex("ABCDEF0123456789"),
                                span_id=bytes.fromhex("00000000000000b4"))  # fmt: skip
    trace = trace_json([rs])
    assert trace["traceID"] == trace["spans"][0]["traceID"] == "abcdef0123456789"
