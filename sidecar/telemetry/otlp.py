"""OTLP requests the exporter sends: the resource, metrics from the store, spans, log records.

Metrics are built with the generated ``opentelemetry-proto`` classes (a few messages per export);
spans and log records, one per request, are encoded by ``wire`` (ADR 0005).
"""

from __future__ import annotations

from binascii import unhexlify
from collections.abc import Sequence

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Exemplar,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from controlplane.api import telemetry as names
from sidecar.telemetry import metrics, wire
from sidecar.telemetry.spans import kv
from sidecar.telemetry.workload import Workload

SCOPE = InstrumentationScope(name="glassmesh.sidecar", version="0.1")
_SCOPE = SCOPE.SerializeToString()
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


def resource(own: Workload, service: str, principal: str, host: str) -> Resource:
    """The resource every signal of this sidecar carries."""
    return Resource(
        attributes=[
            kv("service.name", service),
            kv("service.namespace", own.namespace),
            kv("service.version", own.version),
            kv("service.instance.id", f"{own.name}@{host}"),
            kv("k8s.namespace.name", own.namespace),
            kv("k8s.deployment.name", own.name),
            kv("host.name", host),
            kv("glassmesh.principal", principal),
            kv("telemetry.sdk.name", "glassmesh"),
            kv("telemetry.sdk.language", "python"),
        ]
    )


def traces(res: Resource, spans: Sequence[bytes]) -> bytes:
    """An ExportTraceServiceRequest of encoded spans."""
    return wire.export_request(res.SerializeToString(), _SCOPE, spans)


def logs(res: Resource, records: Sequence[bytes]) -> bytes:
    """An ExportLogsServiceRequest of encoded log records."""
    return wire.export_request(res.SerializeToString(), _SCOPE, records)


def _attrs(label_names: tuple[str, ...], values: tuple[str, ...]) -> list[KeyValue]:
    return [kv(n, v) for n, v in zip(label_names, values, strict=False)]


def _histogram(
    key: tuple[str, ...], hist: metrics.Histogram, start: int, now: int, exemplar: Exemplar | None
) -> HistogramDataPoint:
    return HistogramDataPoint(
        attributes=_attrs(names.LABELS, key),
        start_time_unix_nano=start,
        time_unix_nano=now,
        count=hist.count,
        sum=hist.sum,
        bucket_counts=hist.buckets,
        explicit_bounds=names.BUCKETS,
        exemplars=[exemplar] if exemplar is not None else [],
    )


def _sum(name: str, unit: str, points: list[NumberDataPoint]) -> Metric:
    return Metric(
        name=name,
        unit=unit,
        sum=Sum(data_points=points, aggregation_temporality=CUMULATIVE, is_monotonic=True),
    )


def metrics_request(
    res: Resource,
    store: metrics.MetricStore,
    now: int,
    self_metrics: list[tuple[str, dict[str, str], int]],
) -> bytes:
    """Every series of ``store`` (cumulative) plus the sidecar's own counters."""
    start = store.start_ns
    with store.lock:
        http = list(store.http.items())
        out = [
            _sum(names.REQUESTS_TOTAL, "", [
                NumberDataPoint(attributes=_attrs(names.LABELS, k), start_time_unix_nano=start,
                                time_unix_nano=now, as_int=s.requests) for k, s in http
            ]),
        ]  # fmt: skip
        for name, unit, attr in (
            (names.REQUEST_DURATION, "ms", "duration"),
            (names.REQUEST_BYTES, "By", "request_bytes"),
            (names.RESPONSE_BYTES, "By", "response_bytes"),
        ):
            points = []
            for key, series in http:
                exemplar = None
                if attr == "duration" and series.exemplar is not None:
                    trace_id, span_id, value, at = series.exemplar
                    exemplar = Exemplar(
                        time_unix_nano=at, as_double=value,
                        trace_id=unhexlify(trace_id), span_id=unhexlify(span_id),
                    )  # fmt: skip
                points.append(_histogram(key, getattr(series, attr), start, now, exemplar))
            out.append(
                Metric(name=name, unit=unit, histogram=Histogram(
                    data_points=points, aggregation_temporality=CUMULATIVE))
            )  # fmt: skip
        tcp = list(store.tcp.items())
        for name, attr in (
            (names.TCP_OPENED, "opened"),
            (names.TCP_CLOSED, "closed"),
            (names.TCP_RECEIVED_BYTES, "received"),
            (names.TCP_SENT_BYTES, "sent"),
        ):
            if tcp:
                numbers = [
                    NumberDataPoint(
                        attributes=_attrs(names.TCP_LABELS, k), start_time_unix_nano=start,
                        time_unix_nano=now, as_int=getattr(s, attr),
                    ) for k, s in tcp
                ]  # fmt: skip
                out.append(_sum(name, "By" if "bytes" in name else "", numbers))
    for name, labels, value in self_metrics:
        point = NumberDataPoint(
            attributes=[kv(k, v) for k, v in labels.items()],
            start_time_unix_nano=start, time_unix_nano=now, as_int=value,
        )  # fmt: skip
        out.append(_sum(name, "", [point]))
    request = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(resource=res, scope_metrics=[ScopeMetrics(scope=SCOPE, metrics=out)])
        ]
    )
    return request.SerializeToString()
