"""The Prometheus exporter: a MetricsConsumer holding the latest value of every series.

Sidecar metrics received over OTLP and the connectors' metrics arrive here; /metrics renders them
with the collector's own ``glassmesh_collector_*`` metrics (promtext). Cumulative sums, gauges and
explicit-bucket histograms are kept; delta temporality, exponential histograms and summaries are
dropped and counted. ``job``/``instance`` come from service.namespace/service.name and
service.instance.id. A series not updated for ``metric_expiration_s`` disappears.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Exemplar,
    Metric,
    ResourceMetrics,
)

from collector.config import PrometheusExporterConfig
from collector.exporters.promnames import label_name, metric_name
from collector.otlp.attrs import as_text
from collector.telemetry import SelfMetrics

Labels = tuple[tuple[str, str], ...]
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


@dataclass
class Sample:
    value: float = 0.0
    bounds: tuple[float, ...] = ()
    buckets: tuple[int, ...] = ()  # per-bucket counts (not cumulative), len(bounds) + 1
    count: int = 0
    exemplars: list[Exemplar] = field(default_factory=list)
    updated_s: float = 0.0


@dataclass
class Family:
    kind: str  # "counter" | "gauge" | "histogram"
    help: str
    samples: dict[Labels, Sample] = field(default_factory=dict)


class PrometheusExporter:
    def __init__(
        self,
        config: PrometheusExporterConfig,
        metrics: SelfMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.self_metrics = metrics
        self.families: dict[str, Family] = {}
        self._clock = clock
        self._series = 0

    def consume_metrics(self, batch: Sequence[ResourceMetrics]) -> None:
        """Keeps the latest point of every series. Never raises Refused."""
        now = self._clock()
        for rm in batch:
            base = _resource_labels(rm)
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    self._metric(metric, base, now)

    def _drop(self, reason: str, n: int = 1) -> None:
        self.self_metrics.add("dropped_items_total", n, stage="prometheus", reason=reason)

    def _metric(self, metric: Metric, base: Labels, now: float) -> None:
        kind = metric.WhichOneof("data")
        if kind == "gauge":
            name = metric_name(metric.name, metric.unit, counter=False, gauge=True)
            for p in metric.gauge.data_points:
                value = p.as_double if p.HasField("as_double") else float(p.as_int)
                self._put(
                    name, "gauge", metric.description, base, p.attributes, now=now
                ).value = value
        elif kind == "sum":
            if metric.sum.aggregation_temporality != CUMULATIVE:
                self._drop("delta_temporality", len(metric.sum.data_points))
                return
            counter = metric.sum.is_monotonic
            name = metric_name(metric.name, metric.unit, counter=counter, gauge=False)
            for p in metric.sum.data_points:
                sample = self._put(name, "counter" if counter else "gauge", metric.description,
                                   base, p.attributes, now=now)  # fmt: skip
                sample.value = p.as_double if p.HasField("as_double") else float(p.as_int)
                sample.exemplars = list(p.exemplars[-1:])
        elif kind == "histogram":
            self._histogram(metric, base, now)
        else:
            self._drop(f"unsupported_{kind}", 1)

    def _histogram(self, metric: Metric, base: Labels, now: float) -> None:
        if metric.histogram.aggregation_temporality != CUMULATIVE:
            self._drop("delta_temporality", len(metric.histogram.data_points))
            return
        name = metric_name(metric.name, metric.unit, counter=False, gauge=False)
        for p in metric.histogram.data_points:
            if len(p.bucket_counts) != len(p.explicit_bounds) + 1:
                self._drop("malformed_histogram")
                continue
            sample = self._put(name, "histogram", metric.description, base, p.attributes, now=now)
            sample.bounds, sample.buckets = tuple(p.explicit_bounds), tuple(p.bucket_counts)
            sample.value, sample.count = p.sum, p.count
            sample.exemplars = list(p.exemplars)

    def _put(self, name: str, kind: str, help_text: str, base: Labels, attributes: object, *,
             now: float) -> Sample:  # fmt: skip
        family = self.families.get(name)
        if family is None or family.kind != kind:
            family = self.families[name] = Family(kind, help_text)
        labels = _labels(base, attributes)
        sample = family.samples.get(labels)
        if sample is None:
            if self._series >= self.config.max_series:
                self._drop("max_series")
                return Sample()  # written to, then forgotten
            sample = family.samples[labels] = Sample()
            self._series += 1
        sample.updated_s = now
        return sample

    def expire(self) -> None:
        """Forget series not updated for ``metric_expiration_s``."""
        cutoff = self._clock() - self.config.metric_expiration_s
        for name, family in list(self.families.items()):
            stale = [labels for labels, s in family.samples.items() if s.updated_s < cutoff]
            for labels in stale:
                del family.samples[labels]
            self._series -= len(stale)
            if not family.samples:
                del self.families[name]


def _resource_labels(rm: ResourceMetrics) -> Labels:
    attrs = {kv.key: as_text(kv.value) for kv in rm.resource.attributes}
    labels = {}
    service = attrs.get("service.name", "")
    if service:
        namespace = attrs.get("service.namespace", "")
        labels["job"] = f"{namespace}/{service}" if namespace else service
    if attrs.get("service.instance.id"):
        labels["instance"] = attrs["service.instance.id"]
    return tuple(sorted(labels.items()))


def _labels(base: Labels, attributes: object) -> Labels:
    merged = dict(base)
    for kv in attributes:  # type: ignore[attr-defined]
        merged.setdefault(label_name(kv.key), as_text(kv.value))
    return tuple(sorted(merged.items()))
