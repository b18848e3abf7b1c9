"""The analysis connector fed OTLP batches on a hand-moved clock: traces complete after
``idle_s`` of quiet, late spans and over-bound spans are dropped and counted, reports and
metrics follow."""

from __future__ import annotations

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.config import ConfigError, ConnectorsConfig
from collector.connectors.analysis import AnalysisConfig, AnalysisConnector
from collector.connectors_wiring import build_connectors
from collector.telemetry import SelfMetrics
from tests.unit.collector.connectors.fakes import Clock, Sink
from tests.unit.collector.spans import T0, resource_spans, span

MS = 1_000_000
CLIENT = Span.SPAN_KIND_CLIENT


def _trace(n: int, stock_ms: int) -> list:  # type: ignore[type-arg]
    """frontend GET /buy -> inventory GET /stock/{item} (sidecar-style spans named by method)."""
    root = span(n, "GET", sid=n * 10 + 1, duration_ns=(stock_ms + 10) * MS,
                attrs={"url.path": "/buy"})  # fmt: skip
    out = span(n, "GET", sid=n * 10 + 2, parent=n * 10 + 1, start=T0 + 2 * MS, kind=CLIENT,
               duration_ns=(stock_ms + 4) * MS, attrs={"url.path": f"/stock/{n}42"})  # fmt: skip
    stock = span(n, "GET", sid=n * 10 + 3, parent=n * 10 + 2, start=T0 + 4 * MS,
                 duration_ns=stock_ms * MS, attrs={"url.path": f"/stock/{n}42"})  # fmt: skip
    return [resource_spans("frontend", [root, out]), resource_spans("inventory", [stock])]


def _connector(**config: float) -> tuple[AnalysisConnector, Clock, SelfMetrics]:
    clock = Clock()
    connector = AnalysisConnector(AnalysisConfig(**config), clock=clock)  # type: ignore[arg-type]
    metrics = SelfMetrics()
    connector.register(metrics)
    return connector, clock, metrics


def test_a_trace_is_analysed_once_it_has_been_quiet_for_idle_s() -> None:
    connector, clock, metrics = _connector(idle_s=5.0)
    for n in range(1, 4):
        connector.consume_traces(_trace(n, 100))
    clock.advance(4.9)
    assert connector.sweep() == 0
    clock.advance(0.2)
    assert connector.sweep() == 3
    assert metrics.value("analysis_traces_total") == 3
    assert connector.endpoints() == [("frontend", "GET /buy")]
    report = connector.report(("frontend", "GET /buy"), 900.0)
    assert report is not None
    top = report.bottlenecks[0]
    assert (top.kind, top.service, top.operation) == ("self_time", "inventory", "GET /stock/{id}")
    share = metrics.value("critical_path_share", entry_service="frontend",
                          entry_operation="GET /buy", service="inventory",
                          operation="GET /stock/{id}")  # fmt: skip
    assert share == pytest.approx(100 / 110, abs=0.01)


def test_late_spans_and_spans_past_the_bounds_are_dropped_and_counted() -> None:
    connector, clock, metrics = _connector(idle_s=1.0, max_trace_spans=2)
    connector.consume_traces(_trace(1, 50))  # three spans: one past max_trace_spans
    assert metrics.value("dropped_items_total", stage="analysis", reason="trace_too_large") == 1
    clock.advance(2.0)
    connector.sweep()
    connector.consume_traces(_trace(1, 50))  # the same trace again, after it was handed out
    assert metrics.value("dropped_items_total", stage="analysis", reason="late") == 3
    assert len(connector.assembler) == 0


async def test_shutdown_analyses_what_is_still_buffered() -> None:
    connector, _, _ = _connector(idle_s=60.0)
    await connector.start()
    connector.consume_traces(_trace(1, 50))
    await connector.shutdown()
    await connector.shutdown()
    assert connector.analyzer.analysed == 1


def test_a_bad_config_field_is_named() -> None:
    raw = ConnectorsConfig(analysis={"idle_s": -1})
    with pytest.raises(ConfigError, match=r"\$\.connectors\.analysis\.idle_s"):
        build_connectors(raw, Sink())
    with pytest.raises(ConfigError, match=r"unknown field `idle` - at `\$\.connectors\.analysis`"):
        build_connectors(ConnectorsConfig(analysis={"idle": 1}), Sink())


def test_operations_named_by_method_get_their_path_with_ids_folded() -> None:
    from collector.analysis.naming import fold

    assert fold("/cart/u4") == "/cart/{id}"
    assert fold("/v2/items/550e8400-e29b-41d4-a716-446655440000") == "/v2/items/{id}"
    assert fold("/stock/42/reservations") == "/stock/{id}/reservations"
