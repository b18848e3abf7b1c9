"""The OpenTelemetry SDK's OTLP/HTTP exporter sends a shop's traces to a running collector; its
bottleneck API, critical-path API and /metrics name the slow service."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Span, SpanKind, Tracer, set_span_in_context

from collector.service import Collector
from tests.integration.collector.conftest import collector_config

MS = 1_000_000


def _send_shop_traces(endpoint: str, count: int) -> list[str]:
    """``count`` traces of frontend -> checkout -> inventory (slow, 120 ms) with explicit times;
    returns their ids."""
    providers = {
        name: TracerProvider(resource=Resource.create({"service.name": name}))
        for name in ("frontend", "checkout", "inventory")
    }
    for p in providers.values():
        p.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    tracer = {name: p.get_tracer("shop") for name, p in providers.items()}
    ids = []
    t0 = time.time_ns() - 60_000 * MS
    for n in range(count):
        t = t0 + n * 500 * MS
        root = tracer["frontend"].start_span("GET /buy", kind=SpanKind.SERVER, start_time=t)
        ids.append(f"{root.get_span_context().trace_id:032x}")
        call = _child(tracer["frontend"], "call checkout", root, SpanKind.CLIENT, t + 2 * MS)
        checkout = _child(tracer["checkout"], "POST /checkout", call, SpanKind.SERVER, t + 3 * MS)
        inner = _child(tracer["checkout"], "call inventory", checkout, SpanKind.CLIENT, t + 5 * MS)
        stock = _child(tracer["inventory"], "GET /stock", inner, SpanKind.SERVER, t + 6 * MS)
        for span, end in ((stock, 126), (inner, 127), (checkout, 130), (call, 131), (root, 133)):
            span.end(end_time=t + end * MS)
    for p in providers.values():
        p.shutdown()
    return ids


def _child(tracer: Tracer, name: str, parent: Span, kind: SpanKind, start: int) -> Span:
    return tracer.start_span(name, set_span_in_context(parent), kind, start_time=start)


async def _get(url: str, **params: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(url, params=params) as r:
        return r.status, await r.json()


async def _poll(url: str, requests: int, deadline_s: float = 20.0, **params: str) -> Any:
    """The first answer of ``url`` counting ``requests`` within ``deadline_s`` (0.1 s steps)."""
    for _ in range(int(deadline_s / 0.1)):
        status, body = await _get(url, **params)
        if status == 200 and body["endpoint"]["requests"] == requests:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered 200: {status} {body}")


async def test_bottleneck_api_names_the_slow_service(tmp_path: Path) -> None:
    config = collector_config(connectors__analysis={"idle_s": 0.3})
    collector = Collector(config, tmp_path / "data")
    await collector.start()
    try:
        endpoint = collector.url("otlp_http") + "/v1/traces"
        ids = await asyncio.to_thread(_send_shop_traces, endpoint, 20)
        query = collector.url("query")
        body = await _poll(f"{query}/api/v1/bottlenecks", 20, service="frontend",
                           operation="GET /buy", lookback="15m")  # fmt: skip
        endpoint_info = body["endpoint"]
        assert (endpoint_info["service"], endpoint_info["operation"]) == ("frontend", "GET /buy")
        assert endpoint_info["errors"] == 0
        assert 120 <= endpoint_info["p50_ms"] <= 140
        top = body["bottlenecks"][0]
        assert (top["kind"], top["service"], top["operation"]) == (
            "self_time", "inventory", "GET /stock")  # fmt: skip
        assert top["critical_path_share"] > 0.8
        assert 50 <= top["estimated_saving_ms"] <= 70  # 120 ms of own time, 50 % faster
        assert set(top["evidence_trace_ids"]) <= set(ids)

        status, everything = await _get(f"{query}/api/v1/bottlenecks")
        assert status == 200
        assert [e["endpoint"]["service"] for e in everything["endpoints"]] == ["frontend"]

        status, path = await _get(f"{query}/api/v1/critical-path/{ids[0]}")
        assert status == 200
        services = [s["service"] for s in path["spans"]]
        assert services[0] == "frontend" and "inventory" in services
        assert sum(s["self_us"] for s in path["spans"]) == 133_000

        metrics = await _text(collector.url("prometheus") + "/metrics")
        assert "glassmesh_collector_analysis_traces_total 20" in metrics
        assert (
            'glassmesh_collector_critical_path_share{entry_operation="GET /buy",'
            'entry_service="frontend",operation="GET /stock",service="inventory"} 0.9'
        ) in metrics
    finally:
        await collector.shutdown()


async def test_bad_and_unknown_requests_are_4xx_and_counted(tmp_path: Path) -> None:
    collector = Collector(collector_config(), tmp_path / "data")
    await collector.start()
    try:
        query = collector.url("query")
        status, body = await _get(f"{query}/api/v1/bottlenecks", lookback="soon")
        assert status == 400 and "lookback" in body["error"]
        status, body = await _get(f"{query}/api/v1/bottlenecks", operation="GET /")
        assert status == 400 and "service" in body["error"]
        status, body = await _get(f"{query}/api/v1/bottlenecks", service="x", operation="GET /")
        assert status == 404 and "no traces" in body["error"]
        assert (await _get(f"{query}/api/v1/bottlenecks"))[1] == {"endpoints": []}
        status, body = await _get(f"{query}/api/v1/critical-path/xyz")
        assert status == 400
        status, body = await _get(f"{query}/api/v1/critical-path/{'ab' * 16}")
        assert status == 404
        metrics = await _text(collector.url("prometheus") + "/metrics")
        assert (
            'glassmesh_collector_analysis_bad_requests_total{reason="bad_parameter"} 3' in metrics
        )
    finally:
        await collector.shutdown()


async def _text(url: str) -> str:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return await r.text()


async def test_glassmesh_analyze_reports_and_explains_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from controlplane.cli import main

    monkeypatch.setenv("COLUMNS", "220")
    collector = Collector(collector_config(connectors__analysis={"idle_s": 0.3}), tmp_path / "d")
    await collector.start()
    try:
        query = collector.url("query")
        assert await asyncio.to_thread(main, ["analyze", "--collector", query]) == 0
        assert "no traces analysed in the last 15m" in capsys.readouterr().err

        endpoint = collector.url("otlp_http") + "/v1/traces"
        await asyncio.to_thread(_send_shop_traces, endpoint, 5)
        await _poll(f"{query}/api/v1/bottlenecks", 5, service="frontend", operation="GET /buy")
        assert await asyncio.to_thread(main, ["analyze", "--collector", query]) == 0
        table = capsys.readouterr().out
        assert "frontend GET /buy" in table and "5 requests" in table
        first_row = next(line for line in table.splitlines() if "│ 1 " in line)
        assert "self_time" in first_row and "inventory" in first_row

        args = ["analyze", "--collector", query, "--service", "frontend", "--json"]
        assert await asyncio.to_thread(main, args) == 0
        body = json.loads(capsys.readouterr().out)
        assert body["endpoints"][0]["bottlenecks"][0]["service"] == "inventory"

        args = ["analyze", "--collector", query, "--service", "x", "--operation", "y"]
        assert await asyncio.to_thread(main, args) == 1
        assert "no traces of x 'y'" in capsys.readouterr().err
    finally:
        await collector.shutdown()
    assert await asyncio.to_thread(main, ["analyze", "--collector", query]) == 1
    assert f"cannot reach the collector at {query}" in capsys.readouterr().err
