"""The graph API over real sockets: our JSON, the Node Graph frames, and 400s for bad queries."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from collector.connectors.config import ServiceGraphConfig
from collector.connectors.servicegraph import ServiceGraphConnector
from collector.query.graph import graph_routes
from tests.unit.collector.connectors.fakes import CLIENT, SERVER, Clock, Sink, batch, span
from tests.unit.collector.connectors.test_meshgraph import requests_total


def populated() -> ServiceGraphConnector:
    clock = Clock()
    graph = ServiceGraphConnector(ServiceGraphConfig(), Sink(), clock)
    graph.consume_metrics(requests_total(4, response_code="503"))
    graph.consume_traces(batch("frontend", span(CLIENT, 1, 10, seconds=0.3)))
    graph.consume_traces(batch("cart", span(SERVER, 1, 11, 10, seconds=0.2, error=True)))
    clock.advance(100)
    return graph


async def client_for(graph: ServiceGraphConnector) -> TestClient[web.Request, web.Application]:
    app = web.Application()
    app.add_routes(graph_routes(graph))
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    return client


async def test_node_graph_frames_for_infinity() -> None:
    client = await client_for(populated())
    try:
        nodes = await (await client.get("/api/graph/nodes")).json()
        edges = await (await client.get("/api/graph/edges", params={"window": "15m"})).json()
    finally:
        await client.close()
    cart = next(n for n in nodes if n["id"] == "cart")
    assert cart["title"] == "cart" and cart["subtitle"] == "shop"
    assert cart["arc__failed"] + cart["arc__success"] == 1.0
    assert cart["arc__failed"] == 1.0  # the sidecars saw 4 requests, all 503
    assert cart["secondarystat"] == 0.04  # 4 requests in the 100 s since the start
    assert edges == [
        {
            "id": "frontend--cart",
            "source": "frontend",
            "target": "cart",
            "mainstat": 0.04,
            "secondarystat": 25.0,  # 1 of the 4 requests is traced
            "detail__trace_requests": 1.0,
            "detail__mesh_requests": 4.0,
            "detail__error_rate": 1.0,
            "detail__p99_ms": 199.0,  # Prometheus interpolation in the 0.1-0.2 s bucket
        }
    ]


async def test_our_json_has_both_counts_coverage_and_latency() -> None:
    client = await client_for(populated())
    try:
        response = await client.get("/api/graph", params={"window": "600", "namespace": "shop"})
        body = await response.json()
    finally:
        await client.close()
    assert response.status == 200
    (edge,) = body["edges"]
    assert edge["traces"] == {"requests": 1.0, "failed": 1.0}
    assert edge["mesh"] == {"requests": 4.0, "failed": 4.0}
    assert edge["coverage"] == 0.25
    assert edge["latency_ms"]["avg"] == 200.0
    assert body["window_s"] == 100.0


async def test_bad_parameters_are_a_400_saying_what_is_wrong() -> None:
    client = await client_for(populated())
    try:
        answers = {}
        for query in (
            {"window": "soon"},
            {"window": "10s"},
            {"window": "2d"},
            {"window": "9h"},
            {"namespace": "Bad_NS"},
        ):
            response = await client.get("/api/graph/edges", params=query)
            answers[str(query)] = (response.status, (await response.json())["error"])
    finally:
        await client.close()
    assert all(status == 400 for status, _ in answers.values())
    assert "not a duration" in answers[str({"window": "soon"})][1]
    assert "between 60s and 3600s" in answers[str({"window": "10s"})][1]
    assert "not a valid namespace" in answers[str({"namespace": "Bad_NS"})][1]
