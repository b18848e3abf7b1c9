"""The service-graph connector: spans and sidecar metrics in, Tempo's graph metrics and a graph out.

A TracesConsumer (span pairs, see pairing), a MetricsConsumer (istio_requests_total, see
meshgraph), a Component (a task that expires waiting halves every second and pushes cumulative
metrics every ``flush_interval_s``) and a GraphSource (the reconciled graph, see graphview).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from opentelemetry.proto.metrics.v1.metrics_pb2 import ResourceMetrics
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from collector import tasks
from collector.connectors.config import ServiceGraphConfig
from collector.connectors.edgestore import EdgeStore
from collector.connectors.graphtally import EdgeTallies
from collector.connectors.graphview import Graph, only_namespace, reconcile
from collector.connectors.history import History
from collector.connectors.meshgraph import MeshGraph
from collector.connectors.otlp import resource_metrics, sum_metric
from collector.connectors.pairing import Pairer
from collector.connectors.weights import Weigher
from collector.otlp.spanbatch import SpanBatch
from collector.pipeline.consumer import MetricsConsumer, Refused

__all__ = ["ServiceGraphConfig", "ServiceGraphConnector"]
SCOPE = "glassmesh.connectors.servicegraph"
SWEEP_S = 1.0


class ServiceGraphConnector:
    """Builds the service graph. Every method runs on the event loop thread and never blocks."""

    def __init__(
        self,
        config: ServiceGraphConfig,
        metrics_out: MetricsConsumer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        now = clock()
        self.config = config
        self.slot_s = config.graph_slot_s
        self.retention_s = config.graph_retention_s
        self.export_refused = 0  # flushes metrics_out refused (the next flush carries the totals)
        self._out = metrics_out
        self._clock = clock
        self._start_s = now
        self._tallies = tallies = EdgeTallies(config.histogram_buckets, config.max_edges, now)
        weigher = Weigher(config.span_multiplier_key, config.enable_tracestate_span_multiplier)
        store = EdgeStore(config.wait_s, config.max_items)
        self._pairer = Pairer(
            store, tallies, weigher, config.peer_attributes, config.span_multiplier_key
        )
        self._mesh = mesh = MeshGraph(config.max_mesh_series, now)
        slot, keep = config.graph_slot_s, config.graph_retention_s
        self._traces = History(lambda: tallies.edges, tallies.width, slot, keep, now)
        self._meshes = History(lambda: mesh.edges, 2, slot, keep, now)
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def pending(self) -> int:
        """Halves waiting for their other half."""
        return len(self._pairer.store)

    def consume_traces(self, batch: Sequence[ResourceSpans]) -> None:
        """Pairs the batch's client and server spans. Never raises Refused: a full store drops
        the new half and counts it in traces_service_graph_dropped_spans_total."""
        self.consume_spans(SpanBatch.read(batch, check=False))

    def consume_spans(self, batch: SpanBatch) -> None:
        """``consume_traces`` for a batch the pipeline has read once (see spanbatch)."""
        now = self._clock()
        self._traces.tick(now)
        self._pairer.expire(now)
        self._pairer.consume(batch.groups, now)

    def consume_metrics(self, batch: Sequence[ResourceMetrics]) -> None:
        """Reads istio_requests_total from the batch, ignores the rest. Never raises Refused."""
        self._meshes.tick(self._clock())
        self._mesh.consume(batch)

    def graph(self, window_s: float, namespace: str | None = None) -> Graph:
        """The reconciled graph of about the last ``window_s`` seconds (see graphview)."""
        now = self._clock()
        traces, covered = self._traces.window(now, window_s)
        mesh, mesh_covered = self._meshes.window(now, window_s)
        names = {**self._mesh.namespaces, **self._pairer.namespaces}
        bounds = self._tallies.bounds
        graph = reconcile(traces, mesh, bounds, names, max(covered, mesh_covered))
        return only_namespace(graph, namespace) if namespace else graph

    def metrics(self) -> ResourceMetrics:
        """Every series as one cumulative ResourceMetrics, as of now (expiring due halves)."""
        now = self._clock()
        self._traces.tick(now)
        self._pairer.expire(now)
        families = self._tallies.metrics(now)
        refused = [((), float(self.export_refused), self._start_s)]
        families.append(
            sum_metric(
                "glassmesh_servicegraph_export_refused_total", "Flushes refused", refused, now
            )
        )
        return resource_metrics(SCOPE, families)

    def flush(self) -> None:
        """Pushes metrics() to metrics_out; a Refused is counted, never raised."""
        try:
            self._out.consume_metrics([self.metrics()])
        except Refused:
            self.export_refused += 1

    async def start(self) -> None:
        """Starts the sweep-and-flush task on the running loop."""
        if self._task is None and not self._stopped:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        due = self._clock() + self.config.flush_interval_s
        while True:
            await asyncio.sleep(SWEEP_S)
            now = self._clock()
            self._pairer.expire(now)
            if now >= due:
                due = now + self.config.flush_interval_s
                self.flush()

    async def shutdown(self) -> None:
        """Stops the task, settles every waiting half (nothing more will pair it) and flushes
        a last time. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        await tasks.cancel(self._task)
        for half in self._pairer.store.drain():
            self._pairer.settle(half)
        self.flush()
