"""Sidecar telemetry through a real pair and a real OTLP/HTTP endpoint: spans of both sides of a
call, trace context in and out (W3C, B3 single and multi), sampling, local replies."""

from __future__ import annotations

from tests.integration.mesh import (
    CLIENT_ID,
    SERVER_ID,
)
from tests.integration.otlp_sink import (
    OtlpSink,
    StartPair,
    attrs,
    eventually,
    send,
    sink,
    start_pair,
)
from tests.integration.recording_app import RecordingApp

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
__all__ = ["sink", "start_pair"]  # fixtures


async def test_both_sides_of_a_call_are_one_trace_with_http_and_mesh_attributes(
    start_pair: StartPair, sink: OtlpSink, app: RecordingApp
) -> None:
    a, _ = await start_pair()
    response = await send(a, b"/items?page=2", user_agent="curl/8")
    assert response.status == 200
    await eventually(lambda: len(sink.spans) == 2, "a span from each sidecar")
    [client] = sink.spans_of("client")
    [server] = sink.spans_of("server")
    assert client.trace_id == server.trace_id
    assert client.parent_span_id == b""  # the request came without context: a new trace
    assert server.parent_span_id == client.span_id
    assert (client.kind, server.kind) == (client.SPAN_KIND_CLIENT, server.SPAN_KIND_SERVER)
    c, s = attrs(client.attributes), attrs(server.attributes)
    for span in (c, s):
        assert span["http.request.method"] == "GET"
        assert span["url.path"] == "/items" and span["url.query"] == "page=2"
        assert span["http.response.status_code"] == 200
        assert span["user_agent.original"] == "curl/8"
        assert span["glassmesh.source.principal"] == CLIENT_ID
        assert span["glassmesh.destination.principal"] == SERVER_ID
    assert c["server.address"] == "server" and c["glassmesh.upstream.cluster"] == "server"
    assert s["glassmesh.source.workload"] == "client"
    assert c["glassmesh.destination.workload"] == "server"  # told by the server's sidecar
    assert client.status.code == client.status.STATUS_CODE_UNSET
    assert client.start_time_unix_nano <= server.start_time_unix_nano
    assert server.end_time_unix_nano <= client.end_time_unix_nano
    # The app gets the context of the server span, and no peer metadata.
    [seen] = app.requests
    assert seen.values(b"traceparent") == [
        b"00-%s-%s-01" % (client.trace_id.hex().encode(), server.span_id.hex().encode())
    ]
    assert b"x-glassmesh-peer" not in seen.names
    assert response.header(b"x-glassmesh-peer") is None


async def test_w3c_context_from_the_app_is_continued_with_its_tracestate(
    start_pair: StartPair, sink: OtlpSink, app: RecordingApp
) -> None:
    a, _ = await start_pair(sampling_percent=0.0)
    parent = f"00-{TRACE}-{PARENT}-01"
    await send(a, traceparent=parent, tracestate="vendor=abc")
    await eventually(lambda: len(sink.spans) == 2, "two spans (the parent said sampled)")
    [client] = sink.spans_of("client")
    assert client.trace_id.hex() == TRACE and client.parent_span_id.hex() == PARENT
    [seen] = app.requests
    assert seen.values(b"tracestate") == [b"vendor=abc"]
    [traceparent] = seen.values(b"traceparent")
    assert traceparent.startswith(b"00-" + TRACE.encode()) and traceparent != parent.encode()


async def test_b3_single_and_multi_headers_are_read_and_written_back_in_their_style(
    start_pair: StartPair, sink: OtlpSink, app: RecordingApp
) -> None:
    a, _ = await start_pair(sampling_percent=0.0)
    await send(a, b3=f"{TRACE}-{PARENT}-1")
    await send(a, x_b3_traceid=TRACE, x_b3_spanid=PARENT, x_b3_sampled="1")
    await eventually(lambda: len(sink.spans) == 4, "both requests traced")
    single, multi = app.requests
    assert single.values(b"b3")[0].startswith(TRACE.encode() + b"-")
    assert single.values(b"b3")[0].endswith(b"-1") and b"x-b3-traceid" not in single.names
    assert multi.values(b"x-b3-traceid") == [TRACE.encode()]
    assert multi.values(b"x-b3-sampled") == [b"1"] and b"b3" not in multi.names
    assert multi.values(b"x-b3-spanid") != [PARENT.encode()]  # our span, not the app's
    clients = sink.spans_of("client")
    assert {s.trace_id.hex() for s in clients} == {TRACE}
    assert {s.parent_span_id.hex() for s in clients} == {PARENT}


async def test_a_parent_that_did_not_sample_is_followed_and_force_overrides_it(
    start_pair: StartPair, sink: OtlpSink, app: RecordingApp
) -> None:
    a, _ = await start_pair(sampling_percent=100.0)
    await send(a, traceparent=f"00-{TRACE}-{PARENT}-00")
    await send(a, x_glassmesh_trace="1", traceparent=f"00-{TRACE}-{PARENT}-00")
    await eventually(lambda: len(sink.spans) == 2, "the forced request's spans")
    assert app.requests[0].values(b"traceparent")[0].endswith(b"-00")
    assert app.requests[1].values(b"traceparent")[0].endswith(b"-01")
    assert len(sink.spans) == 2  # the unsampled one never showed up


async def test_zero_sampling_exports_no_span_but_still_propagates(
    start_pair: StartPair, sink: OtlpSink, app: RecordingApp
) -> None:
    a, _ = await start_pair(sampling_percent=0.0)
    for _ in range(5):
        assert (await send(a)).status == 200
    await eventually(lambda: "istio_requests_total" in {m.name for m in sink.metrics}, "metrics")
    assert sink.spans == []
    ids = {r.values(b"traceparent")[0].split(b"-")[1] for r in app.requests}
    assert len(ids) == 5  # each request its own (unsampled) trace


async def test_a_local_reply_is_an_error_span_with_its_response_flag(
    start_pair: StartPair, sink: OtlpSink
) -> None:
    a, _ = await start_pair()
    response = await send(a, host=b"nowhere")
    assert response.status == 404 and response.flags == b"NR"
    await eventually(lambda: len(sink.spans) == 1, "the client span")
    [(service, span)] = sink.spans
    found = attrs(span.attributes)
    assert service == "client" and span.status.code == span.status.STATUS_CODE_ERROR
    assert found["error.type"] == "NR" and found["glassmesh.response_flags"] == "NR"
    assert found["http.response.status_code"] == 404


async def test_a_5xx_from_the_app_marks_both_spans_as_errors(
    start_pair: StartPair, sink: OtlpSink
) -> None:
    a, _ = await start_pair()
    assert (await send(a, b"/status/500")).status == 500
    await eventually(lambda: len(sink.spans) == 2, "both spans")
    assert {s.status.code for _, s in sink.spans} == {2}  # STATUS_CODE_ERROR
    assert {attrs(s.attributes)["error.type"] for _, s in sink.spans} == {"500"}
