"""The collector assembled from its config: receivers -> pipelines -> storage, connectors and
exporters, and the three HTTP listeners (OTLP 4318, query 16686, metrics 8889) plus gRPC 4317.

``Collector.start`` binds everything (port 0 picks a free port; ``addresses`` reports what was
bound); ``shutdown`` stops receivers first, then flushes connectors and commits storage. It is
idempotent.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from aiohttp import web
from opentelemetry.proto.metrics.v1.metrics_pb2 import ResourceMetrics

from collector.config import CollectorConfig, split_endpoint
from collector.connectors_wiring import build_connectors
from collector.exporters import promtext
from collector.exporters.otlp_forward import OtlpForwarder
from collector.exporters.prometheus import PrometheusExporter
from collector.pipeline.limiter import MemoryLimiter, rss_bytes
from collector.pipeline.pipeline import Pipelines
from collector.query.server import make_query_app
from collector.receivers.otlp_grpc import OtlpGrpcReceiver
from collector.receivers.otlp_http import OtlpHttpReceiver
from collector.storage.sqlite import SqliteStore
from collector.telemetry import SelfMetrics

log = logging.getLogger("glassmesh.collector")
GC_THRESHOLD = 50_000  # allocations between first-generation collections (CPython: 700)


class _Discard:
    def consume_metrics(self, batch: Sequence[ResourceMetrics]) -> None:
        """Metrics with nowhere to go (Prometheus exporter off)."""


class Collector:
    def __init__(
        self, config: CollectorConfig, data_dir: Path, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.metrics = SelfMetrics()
        self.store = (
            SqliteStore(data_dir, config.storage, clock) if config.storage.enabled else None
        )
        prom = config.exporters.prometheus
        self.prometheus = PrometheusExporter(prom, self.metrics, clock) if prom.enabled else None
        self.connectors = build_connectors(config.connectors, self.prometheus or _Discard(), clock)
        forward = config.exporters.otlp_forward
        self.forwarder = OtlpForwarder(forward, self.metrics) if forward.endpoint else None
        limiter = config.processors.memory_limiter
        self.pipelines = Pipelines(
            store=self.store, limiter=MemoryLimiter(limiter) if limiter.enabled else None
        )
        self._wire()
        self.addresses: dict[str, tuple[str, int]] = {}
        self._runners: list[web.AppRunner] = []
        self._grpc: OtlpGrpcReceiver | None = None
        self._started = False

    def _wire(self) -> None:
        p = self.pipelines
        if self.store is not None:
            p.traces.append(self.store)
            p.logs.append(self.store)
        p.traces += self.connectors.all()
        if self.connectors.analysis is not None:
            self.connectors.analysis.register(self.metrics)
        if self.prometheus is not None:
            p.metrics.append(self.prometheus)
        if self.connectors.servicegraph is not None:
            p.metrics.append(self.connectors.servicegraph)
        if self.forwarder is not None:
            p.traces.append(self.forwarder)
            p.metrics.append(self.forwarder)
            p.logs.append(self.forwarder)
            forwarder = self.forwarder
            self.metrics.gauge("forward_queue_batches", "Batches waiting to be forwarded",
                               lambda: {(): float(forwarder.queued)})  # fmt: skip
        m = self.metrics
        m.gauge(
            "storage_queue_batches",
            "Batches waiting for the storage writer",
            lambda: {(): float(self.store.stats().queued_batches) if self.store else 0.0},
        )
        m.gauge(
            "storage_queue_bytes",
            "Bytes waiting for the storage writer",
            lambda: {(): float(self.store.stats().queued_bytes) if self.store else 0.0},
        )
        m.gauge(
            "storage_size_bytes",
            "Bytes of stored segments",
            lambda: {(): float(self.store.stats().size_bytes) if self.store else 0.0},
        )
        m.gauge("resident_memory_bytes", "Resident set size of the collector process",
                lambda: {(): float(rss_bytes())})  # fmt: skip

    async def start(self) -> None:
        self._started = True
        if self.store is not None:
            await self.store.start()
        for connector in self.connectors.all():
            await connector.start()
        if self.forwarder is not None:
            await self.forwarder.start()
        recv = self.config.receivers.otlp
        if recv.http.enabled:
            app = OtlpHttpReceiver(
                self.pipelines, self.metrics, recv.http.max_request_body_bytes
            ).app
            await self._serve("otlp_http", app, recv.http.endpoint)
        if self.config.query.enabled and self.store is not None:
            graph, analysis = self.connectors.servicegraph, self.connectors.analysis
            query = make_query_app(self.store, self.config.query, graph, metrics=self.metrics,
                                   analysis=analysis)  # fmt: skip
            await self._serve("query", query, self.config.query.endpoint)
        if self.prometheus is not None:
            await self._serve(
                "prometheus", self._metrics_app(), self.config.exporters.prometheus.endpoint
            )
        if recv.grpc.enabled:
            grpc = recv.grpc
            self._grpc = OtlpGrpcReceiver(
                self.pipelines, self.metrics, grpc.max_recv_msg_bytes, grpc.max_concurrent_rpcs
            )
            host, port = split_endpoint(recv.grpc.endpoint)
            self.addresses["otlp_grpc"] = (host, await self._grpc.start(host, port))

    async def _serve(self, name: str, app: web.Application, endpoint: str) -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        host, port = split_endpoint(endpoint)
        await web.TCPSite(runner, host, port).start()
        self.addresses[name] = runner.addresses[0][:2]

    def _metrics_app(self) -> web.Application:
        exporter = self.prometheus
        assert exporter is not None

        async def scrape(request: web.Request) -> web.Response:
            om = promtext.wants_openmetrics(request.headers.get("Accept", ""))
            body = promtext.render(exporter, om)
            return web.Response(
                body=body.encode(),
                headers={"Content-Type": promtext.OPENMETRICS if om else promtext.TEXT},
            )

        app = web.Application()
        app.router.add_get("/metrics", scrape)
        return app

    def url(self, name: str) -> str:
        host, port = self.addresses[name]
        return f"http://{host}:{port}"

    async def shutdown(self) -> None:
        """Stop receiving, flush connectors, commit and close storage. Idempotent."""
        if not self._started:
            return
        self._started = False
        if self._grpc is not None:
            await self._grpc.shutdown()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        for connector in self.connectors.all():
            await connector.shutdown()
        if self.forwarder is not None:
            await self.forwarder.shutdown()
        if self.store is not None:
            await self.store.shutdown()


def _tune_gc() -> None:
    """Ingest allocates a tuple per span and frees it a moment later; the cyclic collector's
    default first-generation threshold (700 allocations) would run it several times a request
    over objects that are never cyclic garbage. Objects from start-up are frozen out of it."""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)


async def serve(config: CollectorConfig, data_dir: Path) -> None:
    """Run until SIGTERM or SIGINT."""
    import signal

    collector = Collector(config, data_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await collector.start()
        for name, (host, port) in collector.addresses.items():
            log.info("collector %s listening on %s:%d", name, host, port)
        _tune_gc()
        await stop.wait()
    finally:
        await collector.shutdown()
