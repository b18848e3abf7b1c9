"""The OpenTelemetry Python SDK's own OTLP exporters (HTTP and gRPC) send traces, metrics and
logs to a collector; they come back through the Jaeger v1 and v3 APIs and /metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from collector.service import Collector


def _send_trace(exporter: SpanExporter, service: str) -> tuple[str, str]:
    """A server span with a client child, exported synchronously; (trace id, child span id)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("checkout-lib", "1.2")
    with tracer.start_as_current_span("GET /cart", kind=trace_api.SpanKind.SERVER) as root:
        root.set_attribute("http.status_code", 200)
        with tracer.start_as_current_span("SELECT", kind=trace_api.SpanKind.CLIENT) as child:
            child.add_event("retry", {"attempt": 2})
    provider.shutdown()
    return f"{root.get_span_context().trace_id:032x}", f"{child.get_span_context().span_id:016x}"


async def _get(url: str, **params: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(url, params=params) as r:
        return r.status, await r.json()


async def test_spans_over_http_come_back_through_jaeger_v1_and_v3(collector: Collector) -> None:
    exporter = HttpSpans(endpoint=collector.url("otlp_http") + "/v1/traces")
    trace_id, child_id = await asyncio.to_thread(_send_trace, exporter, "checkout")
    query = collector.url("query")

    status, body = await _get(f"{query}/api/traces/{trace_id}")
    assert status == 200
    assert (body["total"], body["limit"], body["offset"], body["errors"]) == (0, 0, 0, None)
    (trace,) = body["data"]
    assert trace["traceID"] == trace_id
    spans = {s["operationName"]: s for s in trace["spans"]}
    assert set(spans) == {"GET /cart", "SELECT"}
    child = spans["SELECT"]
    assert child["spanID"] == child_id
    assert child["references"] == [
        {"refType": "CHILD_OF", "traceID": trace_id, "spanID": spans["GET /cart"]["spanID"]}
    ]
    assert {"key": "span.kind", "type": "string", "value": "client"} in child["tags"]
    assert {"key": "otel.scope.name", "type": "string", "value": "checkout-lib"} in child["tags"]
    assert child["logs"][0]["fields"][0] == {"key": "event", "type": "string", "value": "retry"}
    assert trace["processes"]["p1"]["serviceName"] == "checkout"
    root_tags = spans["GET /cart"]["tags"]
    assert {"key": "http.status_code", "type": "int64", "value": 200} in root_tags
    assert spans["GET /cart"]["startTime"] < 10**17  # µs, not ns

    assert (await _get(f"{query}/api/services"))[1]["data"] == ["checkout"]
    ops = (await _get(f"{query}/api/services/checkout/operations"))[1]["data"]
    assert ops == ["GET /cart", "SELECT"]
    status, found = await _get(
        f"{query}/api/traces", service="checkout", tags='{"http.status_code":"200"}'
    )
    assert status == 200
    assert [t["traceID"] for t in found["data"]] == [trace_id]

    status, v3 = await _get(f"{query}/api/v3/traces/{trace_id}")
    assert status == 200
    v3_spans = [
        s for rs in v3["result"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]
    ]
    assert {s["traceId"] for s in v3_spans} == {trace_id}
    assert {s["kind"] for s in v3_spans} == {2, 3}
    status, missing = await _get(f"{query}/api/v3/traces/{'ab' * 16}")
    assert status == 404
    assert missing["error"]["httpCode"] == 404


async def test_spans_over_grpc_are_searchable_in_v3(collector: Collector) -> None:
    host, port = collector.addresses["otlp_grpc"]
    exporter = GrpcSpans(endpoint=f"http://{host}:{port}", insecure=True)
    trace_id, _ = await asyncio.to_thread(_send_trace, exporter, "cart")
    status, body = await _get(
        collector.url("query") + "/api/v3/traces",
        **{"query.serviceName": "cart", "query.startTimeMin": "2000-01-01T00:00:00Z",
           "query.startTimeMax": "2100-01-01T00:00:00.123456789Z"},
    )  # fmt: skip
    assert status == 200
    ids = {s["traceId"] for rs in body["result"]["resourceSpans"] for ss in rs["scopeSpans"]
           for s in ss["spans"]}  # fmt: skip
    assert ids == {trace_id}
    services = (await _get(collector.url("query") + "/api/v3/services"))[1]
    assert services == {"services": ["cart"]}


def _send_metrics(endpoint: str) -> None:
    exporter = OTLPMetricExporter(endpoint=endpoint)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        metric_readers=[reader], resource=Resource.create({"service.name": "web"})
    )
    meter = provider.get_meter("mesh")
    meter.create_counter("istio_requests_total").add(3, {"response_code": "200"})
    meter.create_histogram("latency", unit="ms").record(42.0, {"route": "/"})
    provider.shutdown()  # exports once more and closes the exporter


async def test_metrics_over_http_are_scraped_from_prometheus(collector: Collector) -> None:
    await asyncio.to_thread(_send_metrics, collector.url("otlp_http") + "/v1/metrics")
    async with aiohttp.ClientSession() as s, s.get(collector.url("prometheus") + "/metrics") as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await r.text()
    instance = 'instance="' + text.split('instance="', 1)[1].split('"', 1)[0] + '"'
    assert f'istio_requests_total{{{instance},job="web",response_code="200"}} 3' in text
    assert "# TYPE latency_milliseconds histogram" in text
    assert f'latency_milliseconds_bucket{{{instance},job="web",route="/",le="50"}} 1' in text
    assert 'glassmesh_collector_received_items_total{signal="metrics",transport="http"}' in text
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
    async with (
        aiohttp.ClientSession() as s,
        s.get(collector.url("prometheus") + "/metrics", headers=headers) as r,
    ):
        assert r.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await r.text()).endswith("# EOF\n")


def _send_log(endpoint: str) -> str:
    provider = LoggerProvider(resource=Resource.create({"service.name": "web"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=endpoint)))
    tracer_provider = TracerProvider()
    with tracer_provider.get_tracer("t").start_as_current_span("op") as span:
        provider.get_logger("app").emit(body="payment declined")
    provider.shutdown()
    tracer_provider.shutdown()
    return f"{span.get_span_context().trace_id:032x}"


async def test_logs_over_http_come_back_by_trace_id(collector: Collector) -> None:
    trace_id = await asyncio.to_thread(_send_log, collector.url("otlp_http") + "/v1/logs")
    status, body = await _get(collector.url("query") + f"/api/logs/{trace_id}")
    assert status == 200
    records = body["result"]["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    assert [r["body"]["stringValue"] for r in records] == ["payment declined"]
    assert records[0]["traceId"] == trace_id
