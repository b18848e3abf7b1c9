"""/api/dependencies: from the service-graph connector when it runs (so Jaeger's dependency
view and the graph API agree), from stored spans for past windows or without the connector."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from collector.config import QueryConfig
from collector.connectors.config import ServiceGraphConfig
from collector.connectors.servicegraph import ServiceGraphConnector
from collector.query.server import make_query_app
from collector.storage.memory import MemoryStore
from tests.unit.collector.connectors.fakes import CLIENT, SERVER, Clock, Sink, batch, span
from tests.unit.collector.connectors.test_meshgraph import requests_total


async def get(
    store: MemoryStore, graph: ServiceGraphConnector | None, clock: Clock, path: str, **q: str
) -> Any:
    app = make_query_app(store, QueryConfig(), graph, clock)
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    try:
        response = await client.get(path, params=q)
        assert response.status == 200
        return await response.json()
    finally:
        await client.close()


def fed(clock: Clock) -> tuple[MemoryStore, ServiceGraphConnector]:
    """One traced frontend -> cart call, stored and paired; the sidecars counted four."""
    store = MemoryStore(clock=clock)
    graph = ServiceGraphConnector(ServiceGraphConfig(), Sink(), clock)
    graph.consume_metrics(requests_total(4))
    for half in (
        batch("frontend", span(CLIENT, 1, 10, seconds=0.3)),
        batch("cart", span(SERVER, 1, 11, 10, seconds=0.2)),
    ):
        graph.consume_traces(half)
        store.consume_traces(half)
    clock.advance(100)
    return store, graph


async def test_dependencies_are_the_graph_edges_when_the_connector_runs() -> None:
    clock = Clock()
    store, graph = fed(clock)
    now_ms = str(int(clock() * 1000))
    deps = await get(store, graph, clock, "/api/dependencies", endTs=now_ms, lookback="3600000")
    edges = await get(store, graph, clock, "/api/graph", window="1h")
    assert deps["data"] == [{"parent": "frontend", "child": "cart", "callCount": 4}]
    assert [(e["source"], e["target"], e["requests"]) for e in edges["edges"]] == [
        ("frontend", "cart", 4)
    ]


async def test_a_past_window_or_no_connector_reads_stored_spans() -> None:
    clock = Clock()
    store, graph = fed(clock)
    span_ms = (clock() - 100) * 1000
    past = {"endTs": str(int(span_ms + 1000)), "lookback": "60000"}
    assert (await get(store, graph, clock, "/api/dependencies", **past))["data"] == [
        {"parent": "frontend", "child": "cart", "callCount": 1}
    ]
    now = {"endTs": str(int(clock() * 1000)), "lookback": "3600000"}
    assert (await get(store, None, clock, "/api/dependencies", **now))["data"] == [
        {"parent": "frontend", "child": "cart", "callCount": 1}
    ]
