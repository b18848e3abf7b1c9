"""The span-metrics connector: Tempo's calls and latency per (service, span, kind, status).

Emits ``traces_spanmetrics_calls_total`` and ``traces_spanmetrics_latency`` (seconds) with Tempo's
labels ``service``, ``span_name``, ``span_kind`` (``SPAN_KIND_SERVER`` ...), ``status_code``
(``STATUS_CODE_UNSET|OK|ERROR``), each span weighted by its sampling (see weights). At most
``max_series`` label sets: spans past it land in one series labelled ``otel_metric_overflow="true"``
(the OpenTelemetry Collector's convention) and are counted there. The first span of each latency
bucket per flush is kept as its exemplar (trace id, span id).
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence

from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, ResourceMetrics
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

from collector import tasks
from collector.connectors.config import SpanMetricsConfig
from collector.connectors.otlp import (
    Exemplar,
    HistogramPoint,
    Labels,
    histogram_metric,
    resource_metrics,
    sum_metric,
)
from collector.connectors.weights import Weigher
from collector.otlp.spanbatch import (
    CODE,
    END,
    KIND,
    NAME,
    PROTO,
    SPAN,
    START,
    STATE,
    TRACE,
    Row,
    SpanBatch,
)
from collector.pipeline.consumer import MetricsConsumer, Refused

__all__ = ["SpanMetricsConfig", "SpanMetricsConnector"]
SCOPE = "glassmesh.connectors.spanmetrics"
CALLS = "traces_spanmetrics_calls_total"
LATENCY = "traces_spanmetrics_latency"
KINDS: dict[int, str] = {int(v): k for k, v in Span.SpanKind.items()}
CODES: dict[int, str] = {int(v): k for k, v in Status.StatusCode.items()}
SeriesKey = tuple[str, str, int, int]  # service, span name, kind, status code
OVERFLOW: SeriesKey = ("", "", -1, -1)
SUM, BUCKETS = 1, 2  # a tally: [calls, seconds sum, bucket counts...]


def series_labels(key: SeriesKey) -> Labels:
    """Tempo's labels for ``key``."""
    if key == OVERFLOW:
        return (("otel_metric_overflow", "true"),)
    service, name, kind, code = key
    return (
        ("service", service),
        ("span_name", name),
        ("span_kind", KINDS.get(kind, "SPAN_KIND_UNSPECIFIED")),
        ("status_code", CODES.get(code, "STATUS_CODE_UNSET")),
    )


class SpanMetricsConnector:
    """A TracesConsumer and Component. Every method runs on the loop thread; none blocks."""

    def __init__(
        self,
        config: SpanMetricsConfig,
        metrics_out: MetricsConsumer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.export_refused = 0
        self.series: dict[SeriesKey, list[float]] = {}
        self._exemplars: dict[SeriesKey, list[Exemplar | None]] = {}
        self._bounds = tuple(config.histogram_buckets)
        self._out = metrics_out
        self._clock = clock
        self._starts: dict[SeriesKey, float] = {}
        self._created = self._last_flush = clock()
        self._weigher = Weigher(
            config.span_multiplier_key, config.enable_tracestate_span_multiplier
        )
        self._scan = bool(config.span_multiplier_key)
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def consume_traces(self, batch: Sequence[ResourceSpans]) -> None:
        """Counts every span of ``batch``. Never raises Refused (past the bound: overflow)."""
        self.consume_spans(SpanBatch.read(batch, check=False))

    def consume_spans(self, batch: SpanBatch) -> None:
        """``consume_traces`` for a batch the pipeline has read once (see spanbatch)."""
        for group in batch.groups:
            self._count(group.service, group.rows)

    def _count(self, service: str, rows: list[Row]) -> None:
        series, bounds, exemplars = self.series, self._bounds, self.config.exemplars
        weigh, scan = self._weigher.weight, self._scan
        for row in rows:
            key = (service, row[NAME], row[KIND], row[CODE])
            tally = series.get(key) or self._new(key)
            seconds = max(row[END] - row[START], 0) / 1e9
            bucket = bisect_left(bounds, seconds)
            if row[STATE] or scan:
                weight = weigh(row[STATE], row[PROTO].attributes if scan else ())
                tally[0] += weight
                tally[SUM] += seconds * weight
                tally[BUCKETS + bucket] += weight
            else:
                tally[0] += 1.0
                tally[SUM] += seconds
                tally[BUCKETS + bucket] += 1.0
            if exemplars:
                self._exemplar(key, bucket, row, seconds)

    def _new(self, key: SeriesKey) -> list[float]:
        if len(self.series) >= self.config.max_series:
            key = OVERFLOW
        tally = self.series.get(key)
        if tally is None:
            tally = self.series[key] = [0.0] * (BUCKETS + len(self._bounds) + 1)
        return tally

    def _exemplar(self, key: SeriesKey, bucket: int, row: Row, seconds: float) -> None:
        kept = self._exemplars.get(key)
        if kept is None:
            if key not in self.series:
                return  # an overflowed span: its series is the overflow one
            kept = self._exemplars[key] = [None] * (len(self._bounds) + 1)
        if kept[bucket] is None:
            kept[bucket] = Exemplar(seconds, row[END] / 1e9, row[TRACE], row[SPAN])

    def metrics(self) -> ResourceMetrics:
        """Every series as one cumulative ResourceMetrics; clears the exemplars kept."""
        now = self._clock()
        for key in self.series:
            self._starts.setdefault(key, self._last_flush)
        self._last_flush = now
        rows = sorted(self.series.items())
        calls = [(series_labels(k), t[0], self._starts[k]) for k, t in rows]
        points = [self._point(k, t) for k, t in rows]
        self._exemplars.clear()
        families: list[Metric] = [
            sum_metric(CALLS, "Spans (weighted) per service, name, kind and status", calls, now),
            # In seconds, declared without a unit: Prometheus names would gain "_seconds", and
            # Grafana's Tempo views query Tempo's traces_spanmetrics_latency_bucket.
            histogram_metric(
                LATENCY, "Span duration in seconds", self._bounds, points, now, unit=""
            ),
        ]
        refused = [((), float(self.export_refused), self._created)]
        families.append(
            sum_metric(
                "glassmesh_spanmetrics_export_refused_total", "Flushes refused", refused, now
            )
        )
        return resource_metrics(SCOPE, families)

    def _point(self, key: SeriesKey, tally: list[float]) -> HistogramPoint:
        kept = [e for e in self._exemplars.get(key, ()) if e is not None]
        return HistogramPoint(
            series_labels(key), tally[BUCKETS:], tally[SUM], self._starts[key], kept
        )

    def flush(self) -> None:
        """Pushes metrics() to metrics_out; a Refused is counted, never raised."""
        try:
            self._out.consume_metrics([self.metrics()])
        except Refused:
            self.export_refused += 1

    async def start(self) -> None:
        """Starts the flush task on the running loop."""
        if self._task is None and not self._stopped:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.config.flush_interval_s)
            self.flush()

    async def shutdown(self) -> None:
        """Stops the task and flushes a last time. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        await tasks.cancel(self._task)
        self.flush()
