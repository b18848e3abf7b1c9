"""Span metrics: Tempo's names and labels, weights, the series bound and exemplars."""

from __future__ import annotations

import pytest

from collector.connectors.config import SpanMetricsConfig
from collector.connectors.spanmetrics import SpanMetricsConnector
from collector.exporters.promnames import metric_name
from tests.unit.collector.connectors.fakes import CLIENT, SERVER, Clock, Sink, batch, points, span

GET = (
    ("service", "cart"),
    ("span_name", "GET /cart"),
    ("span_kind", "SPAN_KIND_SERVER"),
    ("status_code", "STATUS_CODE_UNSET"),
)


def test_calls_and_latency_per_service_span_kind_and_status() -> None:
    sink = Sink()
    spans = SpanMetricsConnector(SpanMetricsConfig(), sink, Clock())
    spans.consume_traces(
        batch(
            "cart",
            span(SERVER, 1, 1, name="GET /cart", seconds=0.003),
            span(SERVER, 2, 1, name="GET /cart", seconds=0.003, tracestate="ot=th:c"),
            span(CLIENT, 3, 1, name="SELECT", error=True),
        )
    )
    spans.flush()
    calls = points(sink.last()["traces_spanmetrics_calls_total"])
    assert calls[GET] == 1 + 4  # th:c keeps a quarter of the traces: that span stands for 4
    failed = (
        ("service", "cart"),
        ("span_name", "SELECT"),
        ("span_kind", "SPAN_KIND_CLIENT"),
        ("status_code", "STATUS_CODE_ERROR"),
    )
    assert calls[failed] == 1
    latency = sink.last()["traces_spanmetrics_latency"]
    # Seconds, declared without a unit so Prometheus serves Tempo's name (no "_seconds" added).
    assert latency.unit == ""
    assert metric_name(latency.name, latency.unit, counter=False, gauge=False) == (
        "traces_spanmetrics_latency"
    )
    point = next(
        p
        for p in latency.histogram.data_points
        if len(p.attributes) == 4 and p.attributes[1].value.string_value == "GET /cart"
    )
    assert list(point.explicit_bounds)[:3] == pytest.approx([0.002, 0.004, 0.008])
    assert len(point.explicit_bounds) == 14
    assert list(point.bucket_counts)[:3] == [0, 5, 0]
    assert point.sum == pytest.approx(0.015)
    assert [e.trace_id for e in point.exemplars] == [(1).to_bytes(16, "big")]


def test_label_sets_past_the_bound_go_to_one_overflow_series() -> None:
    sink = Sink()
    spans = SpanMetricsConnector(SpanMetricsConfig(max_series=2), sink, Clock())
    spans.consume_traces(batch("cart", *(span(SERVER, t, 1, name=f"GET /{t}") for t in range(5))))
    spans.flush()
    calls = points(sink.last()["traces_spanmetrics_calls_total"])
    assert len(calls) == 3
    assert calls[(("otel_metric_overflow", "true"),)] == 3


async def test_shutdown_flushes_once_and_is_idempotent() -> None:
    sink = Sink()
    spans = SpanMetricsConnector(SpanMetricsConfig(), sink, Clock())
    await spans.start()
    spans.consume_traces(batch("cart", span(SERVER, 1, 1)))
    await spans.shutdown()
    await spans.shutdown()
    assert len(sink.batches) == 1
