"""Builders and fakes for the connector tests: spans as OTLP protobuf, a clock, a metrics sink."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, ResourceMetrics
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

CLIENT, SERVER = Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_SERVER
PRODUCER, CONSUMER = Span.SPAN_KIND_PRODUCER, Span.SPAN_KIND_CONSUMER
T0 = 1_800_000_000.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sink:
    """A MetricsConsumer keeping every batch; ``refuse`` makes it raise Refused."""

    def __init__(self) -> None:
        self.batches: list[Sequence[ResourceMetrics]] = []

    def consume_metrics(self, batch: Sequence[ResourceMetrics]) -> None:
        self.batches.append(batch)

    def last(self) -> dict[str, Metric]:
        """The metrics of the last batch by name."""
        return {m.name: m for m in self.batches[-1][0].scope_metrics[0].metrics}


def attrs(values: dict[str, str | int | float]) -> list[KeyValue]:
    out = []
    for key, value in values.items():
        if isinstance(value, bool | int):
            out.append(KeyValue(key=key, value=AnyValue(int_value=int(value))))
        elif isinstance(value, float):
            out.append(KeyValue(key=key, value=AnyValue(double_value=value)))
        else:
            out.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return out


def span(
    kind: int,
    trace: int,
    span_id: int,
    parent: int = 0,
    *,
    seconds: float = 0.05,
    error: bool = False,
    tracestate: str = "",
    name: str = "op",
    **attributes: str | int | float,
) -> Span:
    """A span of ``kind`` lasting ``seconds``; attribute names use __ for dots (db__system)."""
    start = int(T0 * 1e9)
    built = Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=span_id.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        trace_state=tracestate,
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(seconds * 1e9),
        attributes=attrs({k.replace("__", "."): v for k, v in attributes.items()}),
    )
    if error:
        built.status.code = Status.STATUS_CODE_ERROR
    return built


def batch(service: str, *spans: Span, namespace: str = "shop") -> list[ResourceSpans]:
    """One ResourceSpans of ``service`` holding ``spans``."""
    resource = Resource(attributes=attrs({"service.name": service, "service.namespace": namespace}))
    out = ResourceSpans(resource=resource)
    out.scope_spans.add().spans.extend(spans)
    return [out]


def points(metric: Metric) -> dict[tuple[tuple[str, str], ...], float]:
    """A sum's values by label set."""
    return {
        tuple((a.key, a.value.string_value) for a in p.attributes): p.as_double
        for p in metric.sum.data_points
    }


def edge(client: str, server: str, conn: str = "") -> tuple[tuple[str, str], ...]:
    """The label set of a service-graph series."""
    return (("client", client), ("server", server), ("connection_type", conn))
