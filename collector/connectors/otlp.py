"""Cumulative OTLP metric messages built from the connectors' tallies (sums and histograms)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Metric,
    ResourceMetrics,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
SERVICE_NAME = "glassmesh-collector"
Labels = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Exemplar:
    """One observation kept to link a bucket to its trace."""

    value: float
    time_s: float
    trace_id: bytes
    span_id: bytes


@dataclass(frozen=True, slots=True)
class HistogramPoint:
    """A cumulative histogram: ``counts`` per bucket (len(bounds) + 1), weighted."""

    labels: Labels
    counts: Sequence[float]
    total: float
    start_s: float
    exemplars: Sequence[Exemplar] = ()


def _attributes(labels: Labels) -> list[KeyValue]:
    return [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in labels]


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def sum_metric(
    name: str, description: str, points: Iterable[tuple[Labels, float, float]], now_s: float
) -> Metric:
    """A monotonic cumulative Sum named ``name`` from (labels, value, start_s) points."""
    metric = Metric(name=name, description=description, unit="1")
    metric.sum.aggregation_temporality = CUMULATIVE
    metric.sum.is_monotonic = True
    for labels, value, start_s in points:
        metric.sum.data_points.add(
            attributes=_attributes(labels),
            as_double=value,
            start_time_unix_nano=_ns(start_s),
            time_unix_nano=_ns(now_s),
        )
    return metric


def histogram_metric(
    name: str,
    description: str,
    bounds: Sequence[float],
    points: Iterable[HistogramPoint],
    now_s: float,
    *,
    unit: str = "s",
) -> Metric:
    """A cumulative explicit-bucket Histogram in seconds (``unit`` is what the metric declares).

    OTLP bucket counts are integers: weighted counts are rounded at export, the sum is not."""
    metric = Metric(name=name, description=description, unit=unit)
    metric.histogram.aggregation_temporality = CUMULATIVE
    for point in points:
        counts = [round(c) for c in point.counts]
        data = metric.histogram.data_points.add(
            attributes=_attributes(point.labels),
            start_time_unix_nano=_ns(point.start_s),
            time_unix_nano=_ns(now_s),
            count=sum(counts),
            sum=point.total,
            bucket_counts=counts,
            explicit_bounds=bounds,
        )
        for ex in point.exemplars:
            data.exemplars.add(
                as_double=ex.value,
                time_unix_nano=_ns(ex.time_s),
                trace_id=ex.trace_id,
                span_id=ex.span_id,
            )
    return metric


def resource_metrics(scope: str, metrics: Iterable[Metric]) -> ResourceMetrics:
    """One ResourceMetrics (resource ``service.name=glassmesh-collector``) with ``metrics``."""
    resource = Resource(attributes=_attributes([("service.name", SERVICE_NAME)]))
    out = ResourceMetrics(resource=resource)
    scope_metrics = out.scope_metrics.add()
    scope_metrics.scope.name = scope
    scope_metrics.metrics.extend(metrics)
    return out
