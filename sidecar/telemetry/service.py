"""Sidecar telemetry, wired: spans, Istio metrics and access logs of every exchange, exported over
OTLP/HTTP by a background thread (``exporter``) from records the request path hands off
(``hooks``). ``Telemetry`` wires them for one sidecar; see docs/sidecar.md and ADR 0005."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Sequence

from controlplane.api.sidecar import SidecarConfig
from controlplane.api.telemetry import TelemetryRule
from sidecar.telemetry.exporter import Exporter, Modes
from sidecar.telemetry.hooks import ListenerTelemetry, Sink
from sidecar.telemetry.labels import LabelMaker
from sidecar.telemetry.metrics import MetricStore, prometheus_lines
from sidecar.telemetry.otlp import resource
from sidecar.telemetry.workload import own_workload


class Telemetry:
    """One sidecar's telemetry: a hook object per listener, the metric store and the exporter.
    ``close()`` is idempotent."""

    def __init__(
        self,
        config: SidecarConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        write: Callable[[bytes], None] | None = None,
    ) -> None:
        """``clock`` times exchanges (monotonic seconds); ``write`` takes access log lines, UTF-8
        (stdout by default)."""
        self.config = config
        settings = config.telemetry
        own = own_workload(config)
        self.sink = Sink(settings.max_queue)
        ratio = settings.sampling_percent / 100.0
        line = [own.header_line()]
        self.outbound = ListenerTelemetry(
            False, self.sink, clock, request_lines=line, response_lines=[], sample_ratio=ratio
        )
        self.inbound = ListenerTelemetry(
            True, self.sink, clock, request_lines=[], response_lines=line, sample_ratio=ratio
        )
        self.store = MetricStore(settings.max_series, time.time_ns())
        self.labels = LabelMaker(own, config.identity)
        res = resource(own, config.service, config.identity, socket.gethostname())
        self.exporter = Exporter(settings, self.sink, self.labels, self.store, res, write=write)
        self.rules: list[str] = []

    def start(self) -> None:
        self.exporter.start()

    async def close(self) -> None:
        """Flushes and stops the exporter (in a thread: the final post may take a while)."""
        await asyncio.to_thread(self.exporter.close)

    @property
    def sample_ratio(self) -> float:
        return self.outbound.sample_ratio

    def apply(self, rules: Sequence[TelemetryRule]) -> None:
        """Puts the Telemetry resources that select this sidecar in force over the config's
        defaults: mesh, then namespace, then workload scope, each field overriding."""
        settings = self.config.telemetry
        sampling, access_log = settings.sampling_percent, settings.access_log
        labels = self.config.labels
        applied = []
        for rule in rules:
            if not rule.match_labels.items() <= labels.items():
                continue
            applied.append(rule.name)
            if rule.sampling_percent is not None:
                sampling = rule.sampling_percent
            if rule.access_log is not None:
                access_log = rule.access_log
        self.outbound.sample_ratio = self.inbound.sample_ratio = sampling / 100.0
        old = self.exporter.modes
        self.exporter.modes = Modes(access_log, old.access_log_json, old.access_log_otlp)
        self.rules = applied

    def prometheus_lines(self) -> list[str]:
        """The Istio metrics and the telemetry self metrics, Prometheus text."""
        lines = prometheus_lines(self.store)
        lines.append("# TYPE glassmesh_sidecar_telemetry_dropped_total counter")
        for name, labels, value in self.exporter.self_metrics():
            text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            lines.append(f"{name}{{{text}}} {value}")
        lines.append(f"glassmesh_sidecar_telemetry_queue_length {len(self.sink.queue)}")
        lines.append(f"glassmesh_sidecar_telemetry_sampling_ratio {self.sample_ratio:g}")
        return lines
