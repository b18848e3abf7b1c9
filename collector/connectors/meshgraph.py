"""The sidecar-metrics graph: request counts per edge from ``istio_requests_total``, Kiali's way.

Every sidecar reports a cumulative counter per label set; what happened between two reports is
the increase, where a drop in value (or a new start time) is a restart from zero. A series seen
for the first time counts in full only if it started after this collector did (else its past is
unknown and it is a baseline, as Prometheus' rate() treats a first sample). Delta sums count as is.

Like Kiali, requests are counted from ``reporter="destination"`` series, and from
``reporter="source"`` only when the destination workload is ``unknown`` (the request never reached
a sidecar that could report it), so a request is not counted twice.

Node names (the rule that matches trace ``service.name``): ``<side>_canonical_service``, else
``<side>_workload``, else (destination only) ``destination_service_name``, skipping ``unknown``.
An unknown source is ``user`` (the trace graph's name for a caller outside the mesh); an unknown
destination is ``destination_service`` (the host asked for) or ``unknown``.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    NumberDataPoint,
    ResourceMetrics,
)

from collector.connectors.attributes import text

REQUESTS = "istio_requests_total"
UNKNOWN = "unknown"
DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
MeshKey = tuple[str, str]  # client, server
SeriesId = tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]


def node_name(labels: dict[str, str], side: str) -> str:
    """The node an Istio label set names on ``side`` ("source" or "destination")."""
    names = [f"{side}_canonical_service", f"{side}_workload"]
    if side == "destination":
        names.append("destination_service_name")
    for label in names:
        value = labels.get(label, "")
        if value and value != UNKNOWN:
            return value
    if side == "source":
        return "user"
    return labels.get("destination_service", "") or UNKNOWN


def namespace(labels: dict[str, str], side: str) -> str:
    """The namespace of ``side``'s node ("" when unknown)."""
    value = labels.get(f"{side}_workload_namespace", "")
    if (not value or value == UNKNOWN) and side == "destination":
        value = labels.get("destination_service_namespace", "")
    return "" if value == UNKNOWN else value


class MeshGraph:
    """Request and 5xx counts per (client, server) from the sidecars' counters."""

    def __init__(self, max_series: int, start_s: float) -> None:
        self.edges: dict[MeshKey, list[float]] = {}  # [requests, failed]
        self.namespaces: dict[str, str] = {}  # workloads named by their labels -> namespace
        self.dropped_series = 0  # label sets not remembered: max_series reached
        self._last: dict[SeriesId, tuple[float, int]] = {}
        self._max = max_series
        self._start_ns = int(start_s * 1e9)

    def consume(self, batch: Sequence[ResourceMetrics]) -> None:
        """Adds the increases of every istio_requests_total point in ``batch``. Never raises."""
        for resource_metrics in batch:
            resource: tuple[tuple[str, str], ...] | None = None
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name != REQUESTS or not metric.HasField("sum"):
                        continue
                    if resource is None:
                        attrs = resource_metrics.resource.attributes
                        resource = tuple(sorted((kv.key, text(kv.value)) for kv in attrs))
                    delta = metric.sum.aggregation_temporality == DELTA
                    for point in metric.sum.data_points:
                        self._point(resource, point, delta)

    def _point(
        self, resource: tuple[tuple[str, str], ...], point: NumberDataPoint, delta: bool
    ) -> None:
        if point.flags & 1:  # no recorded value: the series went stale
            return
        pairs = tuple(sorted((kv.key, text(kv.value)) for kv in point.attributes))
        value = point.as_double if point.HasField("as_double") else float(point.as_int)
        increase = value if delta else self._increase((resource, pairs), value, point)
        labels = dict(pairs)
        if increase > 0 and _counts(labels):
            self._add(labels, increase)

    def _increase(self, series: SeriesId, value: float, point: NumberDataPoint) -> float:
        start = point.start_time_unix_nano
        last = self._last.get(series)
        if last is None and len(self._last) >= self._max:
            self.dropped_series += 1
            return 0.0
        self._last[series] = (value, start)
        if last is None:
            return value if start >= self._start_ns else 0.0
        before, before_start = last
        if value < before or (start and before_start and start != before_start):
            return value  # the counter restarted from zero
        return value - before

    def _add(self, labels: dict[str, str], increase: float) -> None:
        client, server = node_name(labels, "source"), node_name(labels, "destination")
        for name, side in ((client, "source"), (server, "destination")):
            ns = namespace(labels, side)
            known = self.namespaces.get(name)
            if known is None and len(self.namespaces) >= self._max:
                continue
            if name not in (UNKNOWN, "user") and name != labels.get("destination_service"):
                self.namespaces[name] = ns or known or ""
        tally = self.edges.get((client, server))
        if tally is None:
            if len(self.edges) >= self._max:
                self.dropped_series += 1
                return
            tally = self.edges[(client, server)] = [0.0, 0.0]
        tally[0] += increase
        if labels.get("response_code", "").startswith("5"):
            tally[1] += increase


def _counts(labels: dict[str, str]) -> bool:
    reporter = labels.get("reporter", "destination")
    if reporter == "destination":
        return True
    return labels.get("destination_workload", UNKNOWN) == UNKNOWN
