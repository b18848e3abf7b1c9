"""The analysis connector: spans in, per-trace critical paths and per-endpoint bottlenecks out.

A TracesConsumer that groups each batch's spans by trace into the Assembler, a Component whose
task hands every trace that went quiet to the Analyzer once a second, and the source the query
API (``/api/v1/bottlenecks``, ``/api/v1/critical-path``) and /metrics read. A report is reused
for ``report_cache_s`` while no new trace of its endpoint arrived, so a scrape's two gauges and
several UIs' polling do not redo the what-if.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Annotated

import msgspec
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from collector import tasks
from collector.analysis.analyzer import AnalysisSettings, Analyzer
from collector.analysis.assembler import Assembler
from collector.analysis.intake import by_trace
from collector.analysis.report import Report
from collector.analysis.tree import Key, Tree
from collector.otlp.spanbatch import SpanBatch
from collector.telemetry import SelfMetrics

SWEEP_S = 1.0
METRICS_LOOKBACK_S = 900.0
METRIC_FINDINGS = 5  # bottleneck_saving_ms series per entry endpoint
Seconds = Annotated[float, msgspec.Meta(gt=0)]
Count = Annotated[int, msgspec.Meta(ge=1)]
Share = Annotated[float, msgspec.Meta(gt=0, lt=1)]


class AnalysisConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What a user writes under ``connectors.analysis``."""

    enabled: bool = True
    idle_s: Seconds = 5.0  # a trace is complete once no span of it arrived for this long
    max_pending_spans: Count = 500_000  # spans waiting for their trace to complete
    max_trace_spans: Count = 5_000  # spans analysed per trace; the rest are dropped, counted
    max_traces: Count = 5_000  # traces per entry endpoint in a window (the most recent)
    max_sample: Count = 300  # of which kept whole, for what-if and the critical-path API
    max_endpoints: Count = 1_000
    improvement: Share = 0.5  # what-if: "this operation 50 % faster"
    report_cache_s: Seconds = 10.0


class AnalysisConnector:
    """Every method runs on the event loop thread and never blocks."""

    def __init__(self, config: AnalysisConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self.assembler = Assembler(config.idle_s, config.max_pending_spans, config.max_trace_spans)
        self.analyzer = Analyzer(
            AnalysisSettings(config.max_traces, config.max_sample, config.max_endpoints,
                             config.improvement)
        )  # fmt: skip
        self._metrics: SelfMetrics | None = None
        self._reported: Counter[str] = Counter()  # drops already added to the metrics
        self._cache: dict[tuple[Key, float], tuple[float, int, Report | None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def consume_traces(self, batch: Sequence[ResourceSpans]) -> None:
        """Buffers the batch's spans by trace. Never raises Refused: past its bounds a span is
        dropped and counted."""
        self.consume_spans(SpanBatch.read(batch, check=False))

    def consume_spans(self, batch: SpanBatch) -> None:
        """``consume_traces`` for a batch the pipeline has read once."""
        now = self._clock()
        for trace_id, spans in by_trace(batch.groups).items():
            self.assembler.add(trace_id, spans, now)
        self._count_drops()

    def sweep(self) -> int:
        """Analyses every trace that went quiet; returns how many."""
        now = self._clock()
        done = 0
        for trace_id, spans in self.assembler.due(now):
            self.analyzer.add(trace_id, spans, now)
            done += 1
        if done and self._metrics is not None:
            self._metrics.add("analysis_traces_total", done)
        return done

    def _count_drops(self) -> None:
        if self._metrics is None:
            return
        for reason, n in self.assembler.dropped.items():
            if n > self._reported[reason]:
                self._metrics.add("dropped_items_total", n - self._reported[reason],
                                  stage="analysis", reason=reason)  # fmt: skip
                self._reported[reason] = n

    # What the query API reads.

    def endpoints(self) -> list[Key]:
        return self.analyzer.endpoints()

    def report(self, entry: Key, lookback_s: float) -> Report | None:
        """The endpoint's report, None without traces. Reused for ``report_cache_s`` while no
        new trace of the endpoint was analysed."""
        now = self._clock()
        added = self.analyzer.added(entry)
        cached = self._cache.get((entry, lookback_s))
        fresh = cached is not None and cached[0] + self.config.report_cache_s > now
        if cached is not None and fresh and cached[1] == added:
            return cached[2]
        report = self.analyzer.report(entry, lookback_s, now)
        if len(self._cache) > 4 * self.config.max_endpoints:
            self._cache.clear()
        self._cache[(entry, lookback_s)] = (now, added, report)
        return report

    def critical_path(self, trace_id: str) -> list[tuple[Tree, int, int]] | None:
        return self.analyzer.critical_path(trace_id)

    def count_bad_request(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.add("analysis_bad_requests_total", reason=reason)

    # Metrics.

    def register(self, metrics: SelfMetrics) -> None:
        """Declares the analysis metrics on the collector's own /metrics."""
        self._metrics = metrics
        metrics.counter("analysis_traces_total", "Completed traces analysed")
        metrics.counter("analysis_bad_requests_total", "Analysis API requests answered 4xx")
        metrics.gauge("analysis_pending_traces", "Traces waiting to go quiet",
                      lambda: {(): float(len(self.assembler))})  # fmt: skip
        metrics.gauge(
            "critical_path_share",
            "Mean share of an entry endpoint's latency an operation holds on its critical path",
            lambda: self._series(_share_series),
        )
        metrics.gauge(
            "bottleneck_saving_ms",
            "Estimated mean saving per request of fixing a bottleneck of an entry endpoint",
            lambda: self._series(_saving_series),
        )

    def _series(
        self, series: Callable[[Report], dict[tuple[tuple[str, str], ...], float]]
    ) -> dict[tuple[tuple[str, str], ...], float]:
        values: dict[tuple[tuple[str, str], ...], float] = {}
        for entry in self.endpoints():
            report = self.report(entry, METRICS_LOOKBACK_S)
            if report is not None:
                values.update(series(report))
        return values

    # Component.

    async def start(self) -> None:
        """Starts the sweep task on the running loop."""
        if self._task is None and not self._stopped:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            self.sweep()

    async def shutdown(self) -> None:
        """Stops the task and analyses what is buffered, complete or not. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        await tasks.cancel(self._task)
        now = self._clock()
        for trace_id, spans in self.assembler.drain():
            self.analyzer.add(trace_id, spans, now)


def _entry_labels(report: Report) -> tuple[tuple[str, str], ...]:
    e = report.endpoint
    return (("entry_operation", e.operation), ("entry_service", e.service))


def _share_series(report: Report) -> dict[tuple[tuple[str, str], ...], float]:
    base = _entry_labels(report)
    return {
        tuple(sorted((*base, ("operation", o.operation), ("service", o.service)))): (
            o.critical_path_share
        )
        for o in report.operations
    }


def _saving_series(report: Report) -> dict[tuple[tuple[str, str], ...], float]:
    base = _entry_labels(report)
    values: dict[tuple[tuple[str, str], ...], float] = {}
    for b in report.bottlenecks[:METRIC_FINDINGS]:
        labels = (*base, ("kind", b.kind), ("operation", b.operation), ("service", b.service))
        values[tuple(sorted(labels))] = b.estimated_saving_ms
    return values
