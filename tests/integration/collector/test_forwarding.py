"""exporters.otlp_forward: a collector sends everything it receives on to another collector over
OTLP/HTTP protobuf; with the other one down, ingest is unaffected and the drops are counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import ResourceMetrics

from collector.service import Collector
from tests.integration.collector.conftest import collector_config
from tests.unit.collector.spans import logs_request, request, resource_spans, span, trace_id

PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
async def downstream(tmp_path: Path) -> AsyncIterator[Collector]:
    c = Collector(collector_config(), tmp_path / "downstream")
    await c.start()
    yield c
    await c.shutdown()


async def post(collector: Collector, signal: str, body: bytes) -> int:
    url = f"{collector.url('otlp_http')}/v1/{signal}"
    async with aiohttp.ClientSession() as s, s.post(url, data=body, headers=PROTOBUF) as r:
        await r.read()
        return r.status


def gauge_request(name: str, value: float) -> bytes:
    rm = ResourceMetrics()
    rm.resource.attributes.add(key="service.name").value.string_value = "cart"
    metric = rm.scope_metrics.add().metrics.add(name=name)
    metric.gauge.data_points.add(as_double=value, time_unix_nano=1_700_000_000_000_000_000)
    return ExportMetricsServiceRequest(resource_metrics=[rm]).SerializeToString()


async def eventually(check: object, what: str) -> None:
    """Waits (bounded) for ``check()`` to be true: forwarding is asynchronous by design."""
    for _ in range(200):
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


async def test_traces_metrics_and_logs_reach_the_next_collector(
    tmp_path: Path, downstream: Collector
) -> None:
    upstream = Collector(
        collector_config(exporters__otlp_forward={"endpoint": downstream.url("otlp_http")}),
        tmp_path / "upstream",
    )
    await upstream.start()
    try:
        traces = request(resource_spans("cart", [span(7, "GET /cart")])).SerializeToString()
        logs = logs_request("cart", 7, "cart emptied").SerializeToString()
        assert await post(upstream, "traces", traces) == 200
        assert await post(upstream, "metrics", gauge_request("cart_items", 3.0)) == 200
        assert await post(upstream, "logs", logs) == 200
        assert downstream.store is not None
        store = downstream.store

        async def arrived() -> bool:
            scrape = await _text(f"{downstream.url('prometheus')}/metrics")
            return (
                bool(await store.trace(trace_id(7)))
                and bool(await store.logs(trace_id(7)))
                and ('cart_items{job="cart"} 3' in scrape)
            )

        await eventually(arrived, "the trace, the log record and the gauge downstream")
        (resource,) = await store.trace(trace_id(7))
        assert resource.scope_spans[0].spans[0].name == "GET /cart"
        assert upstream.metrics.value("forwarded_items_total", signal="traces") == 1
        assert upstream.metrics.value("forwarded_items_total", signal="metrics") == 1
        assert upstream.metrics.value("forwarded_items_total", signal="logs") == 1
    finally:
        await upstream.shutdown()


async def test_a_down_receiver_costs_drops_not_ingest(tmp_path: Path) -> None:
    forward = {"endpoint": "http://127.0.0.1:9", "initial_backoff_s": 0.01,
               "max_backoff_s": 0.02, "max_elapsed_s": 0.05, "queue_batches": 2}  # fmt: skip
    upstream = Collector(collector_config(exporters__otlp_forward=forward), tmp_path / "up")
    await upstream.start()
    try:
        for n in range(5):
            body = request(resource_spans("cart", [span(n + 1)])).SerializeToString()
            assert await post(upstream, "traces", body) == 200
        assert upstream.store is not None
        assert await upstream.store.trace(trace_id(5))  # stored regardless

        def dropped(reason: str) -> float:
            return upstream.metrics.value(
                "dropped_items_total", stage="otlp_forward", reason=reason
            )

        async def all_counted() -> bool:
            return dropped("retries_exhausted") + dropped("queue_full") == 5

        await eventually(all_counted, "every span counted as dropped")
        assert dropped("retries_exhausted") >= 1
        scrape = await _text(f"{upstream.url('prometheus')}/metrics")
        assert 'reason="retries_exhausted",stage="otlp_forward"' in scrape
    finally:
        await upstream.shutdown()


async def _text(url: str) -> str:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return await r.text()
