"""OTLP metric names as Prometheus names: what a scrape of /metrics shows for each OTLP metric."""

from __future__ import annotations

import pytest
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Metric,
    ResourceMetrics,
)

from collector.config import PrometheusExporterConfig
from collector.exporters.prometheus import PrometheusExporter
from collector.exporters.promnames import label_name, metric_name
from collector.exporters.promtext import render
from collector.telemetry import SelfMetrics

CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


@pytest.mark.parametrize(
    ("name", "unit", "expected"),
    [
        ("http.server.request.duration", "s", "http_server_request_duration_seconds"),
        ("rpc.client.duration", "ms", "rpc_client_duration_milliseconds"),
        ("system.memory.usage", "By", "system_memory_usage_bytes"),
        ("system.network.io", "By/s", "system_network_io_bytes_per_second"),
        ("speed", "m/h", "speed_meters_per_hour"),
        ("pool.size", "MiBy", "pool_size_mebibytes"),
        ("temperature", "Cel", "temperature_celsius"),
        ("disk.free", "%", "disk_free_percent"),
        ("widget.weight", "stone", "widget_weight_stone"),  # unknown units are kept as they are
        ("http.server.active_requests", "{request}", "http_server_active_requests"),
        ("queue.rate", "{item}/s", "queue_rate_per_second"),
        ("plain", "", "plain"),
        # no double suffixes: the unit is already a token of the name
        ("process.runtime.seconds", "s", "process_runtime_seconds"),
        ("io.bytes.read", "By", "io_bytes_read"),
        # invalid characters and runs of separators become one "_"; none leads or trails
        ("my-metric/name..x", "", "my_metric_name_x"),
        ("__odd__name__", "", "odd_name"),
        ("ns:with:colons", "", "ns:with:colons"),
        ("1xx.responses", "", "_1xx_responses"),
        ("déjà.vu", "", "d_j_vu"),
    ],
)
def test_histogram_and_unit_suffixes(name: str, unit: str, expected: str) -> None:
    assert metric_name(name, unit, counter=False, gauge=False) == expected


def test_ratio_only_for_gauges_of_unit_one() -> None:
    assert metric_name("system.cpu.utilization", "1", counter=False, gauge=True) == (
        "system_cpu_utilization_ratio"
    )
    assert metric_name("cache.hit.ratio", "1", counter=False, gauge=True) == "cache_hit_ratio"
    assert metric_name("ratio.of.hits", "1", counter=False, gauge=True) == "of_hits_ratio"
    assert metric_name("requests", "1", counter=True, gauge=False) == "requests"
    assert metric_name("up.down", "1", counter=False, gauge=False) == "up_down"


def test_counters_lose_their_total_tokens() -> None:
    assert metric_name("requests_total", "", counter=True, gauge=False) == "requests"
    assert metric_name("total.requests", "", counter=True, gauge=False) == "requests"
    assert metric_name("io_total", "By", counter=True, gauge=False) == "io_bytes"
    assert metric_name("total_seen", "", counter=False, gauge=True) == "total_seen"


@pytest.mark.parametrize(
    ("key", "expected"),
    [("http.method", "http_method"), ("k8s.pod-name", "k8s_pod_name"), ("0day", "key_0day")],
)
def test_label_names(key: str, expected: str) -> None:
    assert label_name(key) == expected


def _scrape(*metrics: Metric) -> list[str]:
    exporter = PrometheusExporter(PrometheusExporterConfig(), SelfMetrics(), clock=lambda: 100.0)
    rm = ResourceMetrics()
    rm.scope_metrics.add().metrics.extend(metrics)
    exporter.consume_metrics([rm])
    lines = render(exporter, om=False).splitlines()
    return [line for line in lines if not line.startswith("glassmesh_collector_")]


def _sum(name: str, unit: str, *, monotonic: bool, value: float) -> Metric:
    metric = Metric(name=name, unit=unit)
    metric.sum.aggregation_temporality = CUMULATIVE
    metric.sum.is_monotonic = monotonic
    point = metric.sum.data_points.add(as_double=value)
    point.attributes.add(key="http.method").value.string_value = "GET"
    return metric


def test_scrape_shows_total_for_monotonic_sums_and_unit_suffixes() -> None:
    counter = _sum("http.server.requests", "{request}", monotonic=True, value=3)
    bytes_sent = _sum("net.io_total", "By", monotonic=True, value=7)
    in_flight = _sum("http.server.active", "1", monotonic=False, value=2)
    gauge = Metric(name="cpu.utilization", unit="1")
    gauge.gauge.data_points.add(as_double=0.5)
    lines = [line for line in _scrape(counter, bytes_sent, in_flight, gauge) if line[0] != "#"]
    assert sorted(lines) == [
        "cpu_utilization_ratio 0.5",
        'http_server_active{http_method="GET"} 2',
        'http_server_requests_total{http_method="GET"} 3',
        'net_io_bytes_total{http_method="GET"} 7',
    ]


def test_scrape_of_a_histogram_has_unit_suffix_and_no_total() -> None:
    metric = Metric(name="http.client.duration", unit="ms")
    metric.histogram.aggregation_temporality = CUMULATIVE
    metric.histogram.data_points.add(count=3, sum=12.0, explicit_bounds=[5.0], bucket_counts=[2, 1])
    assert _scrape(metric) == [
        "# TYPE http_client_duration_milliseconds histogram",
        'http_client_duration_milliseconds_bucket{le="5"} 2',
        'http_client_duration_milliseconds_bucket{le="+Inf"} 3',
        "http_client_duration_milliseconds_sum 12",
        "http_client_duration_milliseconds_count 3",
    ]
