"""The trace-derived service graph: pairing, expiry, virtual nodes, failures, weights, bounds."""

from __future__ import annotations

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.connectors.config import ServiceGraphConfig, load
from collector.connectors.servicegraph import ServiceGraphConnector
from collector.pipeline.consumer import Refused
from tests.unit.collector.connectors.fakes import (
    CLIENT,
    CONSUMER,
    PRODUCER,
    SERVER,
    Clock,
    Sink,
    attrs,
    batch,
    edge,
    points,
    span,
)


def sampled(built: Span, ratio: float) -> Span:
    """``built`` with Tempo's X-SampleRatio attribute set to ``ratio``."""
    built.attributes.extend(attrs({"X-SampleRatio": ratio}))
    return built


def connector(**config: object) -> tuple[ServiceGraphConnector, Sink, Clock]:
    sink, clock = Sink(), Clock()
    return ServiceGraphConnector(load(ServiceGraphConfig, config), sink, clock), sink, clock


def totals(
    graph: ServiceGraphConnector, sink: Sink, family: str = "request_total"
) -> dict[tuple[tuple[str, str], ...], float]:
    graph.flush()
    return points(sink.last()[f"traces_service_graph_{family}"])


@pytest.mark.parametrize("server_first", [False, True])
def test_a_client_and_its_server_span_make_one_edge_in_either_order(server_first: bool) -> None:
    graph, sink, _ = connector()
    halves = [
        batch("frontend", span(CLIENT, 1, 10, 9, seconds=0.3)),
        batch("cart", span(SERVER, 1, 11, 10, seconds=0.2)),
    ]
    for half in reversed(halves) if server_first else halves:
        graph.consume_traces(half)
    assert totals(graph, sink) == {edge("frontend", "cart"): 1.0}
    assert graph.pending == 0
    server = sink.last()["traces_service_graph_request_server_seconds"].histogram.data_points[0]
    client = sink.last()["traces_service_graph_request_client_seconds"].histogram.data_points[0]
    assert server.sum == pytest.approx(0.2)
    assert client.sum == pytest.approx(0.3)
    assert list(server.explicit_bounds) == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8])
    assert list(server.bucket_counts) == [0, 1, 0, 0, 0, 0, 0, 0, 0]


def test_a_half_alone_past_the_wait_is_counted_unpaired_and_forgotten() -> None:
    graph, sink, clock = connector(wait_s=10)
    graph.consume_traces(batch("cart", span(SERVER, 1, 11, 10)))
    clock.advance(9.9)
    graph.consume_traces([])
    assert graph.pending == 1
    clock.advance(0.2)
    graph.consume_traces(batch("frontend", span(CLIENT, 1, 10, 9)))  # too late: a new half
    assert totals(graph, sink, "unpaired_spans_total") == {edge("", "cart"): 1.0}
    assert totals(graph, sink) == {}


def test_a_database_call_is_an_edge_to_a_database_node_at_once() -> None:
    graph, sink, _ = connector()
    graph.consume_traces(batch("cart", span(CLIENT, 1, 10, db__system="redis", db__name="carts")))
    graph.consume_traces(batch("cart", span(CLIENT, 2, 10, db__system="postgresql")))
    graph.consume_traces(
        batch("cart", span(CLIENT, 3, 10, db__system="redis", peer__service="cache"))
    )
    assert totals(graph, sink) == {
        edge("cart", "carts", "database"): 1.0,
        edge("cart", "postgresql", "database"): 1.0,
        edge("cart", "cache", "database"): 1.0,
    }


def test_an_unanswered_call_names_its_peer_as_a_virtual_node() -> None:
    graph, sink, clock = connector()
    graph.consume_traces(batch("checkout", span(CLIENT, 1, 10, server__address="api.stripe.com")))
    graph.consume_traces(batch("checkout", span(PRODUCER, 2, 10, messaging__system="kafka")))
    graph.consume_traces(batch("checkout", span(CLIENT, 3, 10)))  # no peer: unpaired
    clock.advance(11)
    assert totals(graph, sink) == {
        edge("checkout", "api.stripe.com", "virtual_node"): 1.0,
        edge("checkout", "kafka", "virtual_node"): 1.0,
    }
    assert totals(graph, sink, "unpaired_spans_total") == {edge("checkout", ""): 1.0}


def test_a_root_server_span_was_called_by_the_user() -> None:
    graph, sink, clock = connector()
    graph.consume_traces(batch("frontend", span(SERVER, 1, 10)))
    clock.advance(11)
    assert totals(graph, sink) == {edge("user", "frontend", "virtual_node"): 1.0}


def test_producer_and_consumer_pair_as_a_messaging_edge() -> None:
    graph, sink, _ = connector()
    graph.consume_traces(batch("orders", span(PRODUCER, 1, 10)))
    graph.consume_traces(batch("mailer", span(CONSUMER, 1, 11, 10)))
    assert totals(graph, sink) == {edge("orders", "mailer", "messaging_system"): 1.0}


def test_an_error_status_or_a_5xx_on_either_side_fails_the_request() -> None:
    graph, sink, _ = connector()
    graph.consume_traces(batch("a", span(CLIENT, 1, 10), span(CLIENT, 2, 10)))
    graph.consume_traces(batch("a", span(CLIENT, 3, 10, http__response__status_code=503)))
    graph.consume_traces(batch("a", span(CLIENT, 4, 10, http__response__status_code=404)))
    graph.consume_traces(
        batch(
            "b",
            span(SERVER, 1, 11, 10, error=True),
            span(SERVER, 2, 11, 10),
            span(SERVER, 3, 11, 10),
            span(SERVER, 4, 11, 10),
        )
    )
    assert totals(graph, sink) == {edge("a", "b"): 4.0}
    assert totals(graph, sink, "request_failed_total") == {edge("a", "b"): 2.0}


def test_sampled_spans_count_for_the_requests_they_stand_for() -> None:
    graph, sink, _ = connector(span_multiplier_key="X-SampleRatio")
    # th:8 rejects half the trace ids: p = 1/2, each sampled request stands for 2.
    graph.consume_traces(batch("a", span(CLIENT, 1, 10, tracestate="ot=th:8")))
    graph.consume_traces(batch("b", span(SERVER, 1, 11, 10, tracestate="ot=th:8")))
    graph.consume_traces(batch("a", sampled(span(CLIENT, 2, 10), 0.25)))
    graph.consume_traces(batch("b", span(SERVER, 2, 11, 10)))
    assert totals(graph, sink) == {edge("a", "b"): 6.0}


def test_a_full_store_drops_new_halves_and_counts_them() -> None:
    graph, sink, _ = connector(max_items=2)
    graph.consume_traces(batch("a", *(span(CLIENT, t, 10) for t in range(1, 5))))
    assert graph.pending == 2
    assert totals(graph, sink, "dropped_spans_total") == {edge("a", ""): 2.0}


async def test_shutdown_settles_waiting_halves_and_flushes_once_more() -> None:
    graph, sink, _ = connector()
    await graph.start()
    graph.consume_traces(batch("frontend", span(SERVER, 1, 10)))
    await graph.shutdown()
    await graph.shutdown()
    assert len(sink.batches) == 1
    assert points(sink.last()["traces_service_graph_request_total"]) == {
        edge("user", "frontend", "virtual_node"): 1.0
    }


def test_a_refused_flush_is_counted_and_the_next_one_carries_the_totals() -> None:
    class Refusing(Sink):
        def consume_metrics(self, batch: object) -> None:
            raise Refused("full")

    graph = ServiceGraphConnector(ServiceGraphConfig(), Refusing(), Clock())
    graph.flush()
    assert graph.export_refused == 1


def test_bad_config_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"\$\.wait_s"):
        load(ServiceGraphConfig, {"wait_s": -1})
    with pytest.raises(ValueError, match="unknown field `wiat_s`"):
        load(ServiceGraphConfig, {"wiat_s": 1})
    with pytest.raises(ValueError, match="strictly increasing"):
        load(ServiceGraphConfig, {"histogram_buckets": [1, 0.5]})
