"""Hostile or broken OTLP/HTTP input: every case gets the status the OTLP spec asks for, is
counted, and leaves the collector serving."""

from __future__ import annotations

import gzip
import json
import zlib

import aiohttp
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.otlp import rpc
from collector.service import Collector
from tests.integration.collector.conftest import collector_config
from tests.unit.collector.spans import request, resource_spans, span, trace_id

PROTO = {"Content-Type": "application/x-protobuf"}


async def _post(
    collector: Collector, body: bytes, headers: dict[str, str] = PROTO
) -> tuple[int, bytes, dict[str, str]]:
    url = collector.url("otlp_http") + "/v1/traces"
    async with aiohttp.ClientSession() as s, s.post(url, data=body, headers=headers) as r:
        return r.status, await r.read(), dict(r.headers)


async def test_garbage_protobuf_is_400_with_a_status(collector: Collector) -> None:
    status, body, headers = await _post(collector, b"\xff\xff\xff\xff garbage")
    assert status == 400
    assert headers["Content-Type"] == "application/x-protobuf"
    assert "invalid protobuf" in rpc.status_message(body)
    status, body, _ = await _post(collector, b"{not json", {"Content-Type": "application/json"})
    assert status == 400
    assert json.loads(body)["code"] == 3


async def test_wrong_content_type_is_415(collector: Collector) -> None:
    status, _, _ = await _post(collector, b"x", {"Content-Type": "text/plain"})
    assert status == 415
    assert collector.metrics.value("refused_items_total", signal="traces", reason="content_type")


async def test_a_gzip_bomb_is_refused_without_inflating_it(collector: Collector) -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = b"".join(bomb.compress(bytes(1 << 20)) for _ in range(200)) + bomb.flush()
    assert len(data) < 400_000  # 200 MiB of zeros
    status, _, _ = await _post(collector, data, {**PROTO, "Content-Encoding": "gzip"})
    assert status == 413


async def test_an_oversize_body_is_413(tmp_path: object) -> None:
    from pathlib import Path

    c = Collector(
        collector_config(receivers__otlp__http__max_request_body_bytes=4096), Path(str(tmp_path))
    )
    await c.start()
    try:
        status, _, _ = await _post(c, bytes(10_000))
        assert status == 413
        ok = request(resource_spans("web", [span(1)])).SerializeToString()
        status, _, _ = await _post(c, gzip.compress(ok), {**PROTO, "Content-Encoding": "gzip"})
        assert status == 200
    finally:
        await c.shutdown()


async def test_invalid_ids_and_end_before_start_are_a_partial_success(collector: Collector) -> None:
    good = span(1, "good")
    no_trace = span(2, "bad-id")
    no_trace.trace_id = b"\x00" * 16
    backwards = span(3, "backwards")
    backwards.end_time_unix_nano = backwards.start_time_unix_nano - 1
    body = request(resource_spans("web", [good, no_trace, backwards])).SerializeToString()
    status, raw, _ = await _post(collector, body)
    assert status == 200
    partial = ExportTraceServiceResponse.FromString(raw).partial_success
    assert partial.rejected_spans == 2
    assert "end_before_start (1)" in partial.error_message
    assert collector.store is not None
    assert [s.name for rs in await collector.store.trace(trace_id(1))
            for ss in rs.scope_spans for s in ss.spans] == ["good"]  # fmt: skip
    assert await collector.store.trace(trace_id(3)) == []


async def test_json_with_upper_case_hex_ids_and_integer_enums(collector: Collector) -> None:
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
        "name": "json", "kind": 2, "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": 1544712661000000000, "unknownField": True}]}]}]}  # fmt: skip
    status, raw, headers = await _post(
        collector, json.dumps(doc).encode(), {"Content-Type": "application/json"}
    )
    assert (status, json.loads(raw)) == (200, {})
    assert headers["Content-Type"] == "application/json"
    url = collector.url("query") + "/api/traces/5b8efff798038103d269b633813fc60c"
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        assert (await r.json())["data"][0]["spans"][0]["duration"] == 1_000_000


async def test_a_span_with_10000_attributes_and_a_trace_of_100000_spans(
    collector: Collector,
) -> None:
    wide = span(7, "wide", attrs={f"k{i}": f"v{i}" for i in range(10_000)})
    status, _, _ = await _post(
        collector, request(resource_spans("web", [wide])).SerializeToString()
    )
    assert status == 200
    for chunk in range(10):
        spans = [span(8, f"s{chunk}", sid=chunk * 10_000 + i + 1) for i in range(10_000)]
        body = request(resource_spans("web", spans)).SerializeToString()
        assert (await _post(collector, body))[0] == 200
    url = collector.url("query")
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{url}/api/traces/{trace_id(7).hex()}") as r:
            assert len((await r.json())["data"][0]["spans"][0]["tags"]) == 10_000 + 2
        async with s.get(f"{url}/api/v3/traces/{trace_id(8).hex()}") as r:
            result = (await r.json())["result"]
    assert (
        sum(len(ss["spans"]) for rs in result["resourceSpans"] for ss in rs["scopeSpans"])
        == 100_000
    )
