"""The sidecar-metrics graph and its reconciliation with the trace graph."""

from __future__ import annotations

from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, ResourceMetrics

from collector.connectors.config import ServiceGraphConfig
from collector.connectors.servicegraph import ServiceGraphConnector
from tests.unit.collector.connectors.fakes import (
    CLIENT,
    SERVER,
    T0,
    Clock,
    Sink,
    attrs,
    batch,
    span,
)

LABELS = {
    "reporter": "destination",
    "source_workload": "frontend-v1",
    "source_canonical_service": "frontend",
    "source_workload_namespace": "shop",
    "destination_workload": "cart-v1",
    "destination_canonical_service": "cart",
    "destination_workload_namespace": "shop",
    "destination_service_name": "cart",
    "response_code": "200",
}


def requests_total(
    value: float,
    *,
    started: float = T0 + 1,
    pod: str = "cart-1",
    delta: bool = False,
    **labels: str,
) -> list[ResourceMetrics]:
    """One istio_requests_total point reported by ``pod``."""
    out = ResourceMetrics()
    out.resource.attributes.extend(attrs({"service.instance.id": pod}))
    metric = out.scope_metrics.add().metrics.add(name="istio_requests_total")
    metric.sum.is_monotonic = True
    metric.sum.aggregation_temporality = (
        AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
        if delta
        else AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    )
    metric.sum.data_points.add(
        as_double=value,
        start_time_unix_nano=int(started * 1e9),
        attributes=attrs({**LABELS, **labels}),
    )
    return [out]


def mesh_edges(graph: ServiceGraphConnector) -> dict[tuple[str, str], tuple[float, float]]:
    return {(e.source, e.target): (e.mesh_requests, e.mesh_failed) for e in graph.graph(600).edges}


def test_increases_survive_counter_resets_and_pods_are_separate_series() -> None:
    clock = Clock()
    graph = ServiceGraphConnector(ServiceGraphConfig(), Sink(), clock)
    graph.consume_metrics(requests_total(10))  # started after the collector: all 10 count
    graph.consume_metrics(requests_total(25))
    graph.consume_metrics(requests_total(4, started=T0 + 30))  # restarted sidecar
    graph.consume_metrics(requests_total(7, pod="cart-2"))
    graph.consume_metrics(requests_total(3, pod="cart-2", response_code="503"))
    assert mesh_edges(graph) == {("frontend", "cart"): (10 + 15 + 4 + 7 + 3, 3)}


def test_a_series_older_than_the_collector_is_a_baseline_not_an_increase() -> None:
    graph = ServiceGraphConnector(ServiceGraphConfig(), Sink(), Clock())
    graph.consume_metrics(requests_total(1000, started=T0 - 3600))
    graph.consume_metrics(requests_total(1010, started=T0 - 3600))
    graph.consume_metrics(requests_total(5, delta=True, pod="x"))
    assert mesh_edges(graph) == {("frontend", "cart"): (15, 0)}


def test_source_reports_count_only_for_requests_no_destination_reported() -> None:
    graph = ServiceGraphConnector(ServiceGraphConfig(), Sink(), Clock())
    graph.consume_metrics(requests_total(10, reporter="source"))  # the destination reports these
    graph.consume_metrics(
        requests_total(
            4,
            reporter="source",
            destination_workload="unknown",
            destination_canonical_service="unknown",
            destination_service_name="unknown",
            destination_service="api.stripe.com",
        )
    )
    graph.consume_metrics(requests_total(2, source_workload="unknown", source_canonical_service=""))
    assert mesh_edges(graph) == {
        ("frontend", "api.stripe.com"): (4, 0),
        ("user", "cart"): (2, 0),
    }


def test_each_edge_reports_trace_and_mesh_counts_and_the_coverage() -> None:
    clock = Clock()
    graph = ServiceGraphConnector(ServiceGraphConfig(), Sink(), clock)
    graph.consume_metrics(requests_total(4))  # the sidecars saw 4 requests
    for trace in (1, 2):  # traces show only 2 of them: context was lost on the others
        graph.consume_traces(batch("frontend", span(CLIENT, trace, 10)))
        graph.consume_traces(batch("cart", span(SERVER, trace, 11, 10)))
    clock.advance(60)
    (edge,) = graph.graph(600).edges
    assert (edge.source, edge.target) == ("frontend", "cart")
    assert (edge.trace_requests, edge.mesh_requests, edge.coverage) == (2, 4, 0.5)
    assert edge.requests == 4 and edge.rate == 4 / 60
    nodes = {n.id: n for n in graph.graph(600).nodes}
    assert nodes["cart"].namespace == "shop" and nodes["cart"].instrumented


def test_a_window_counts_only_what_came_in_it() -> None:
    clock = Clock()
    graph = ServiceGraphConnector(ServiceGraphConfig(graph_slot_s=60), Sink(), clock)
    graph.consume_traces(batch("a", span(CLIENT, 1, 10)) + batch("b", span(SERVER, 1, 11, 10)))
    clock.advance(600)
    graph.consume_traces(batch("a", span(CLIENT, 2, 10)) + batch("b", span(SERVER, 2, 11, 10)))
    clock.advance(30)
    assert [e.trace_requests for e in graph.graph(300).edges] == [1.0]
    assert [e.trace_requests for e in graph.graph(3600).edges] == [2.0]


def test_the_namespace_filter_keeps_edges_touching_it() -> None:
    graph = ServiceGraphConnector(ServiceGraphConfig(), Sink(), Clock())
    graph.consume_traces(batch("a", span(CLIENT, 1, 10)) + batch("b", span(SERVER, 1, 11, 10)))
    graph.consume_traces(
        batch("x", span(CLIENT, 2, 10), namespace="ops")
        + batch("y", span(SERVER, 2, 11, 10), namespace="ops")
    )
    assert [e.id for e in graph.graph(600, "ops").edges] == ["x--y"]
    assert [e.id for e in graph.graph(600).edges] == ["a--b", "x--y"]
