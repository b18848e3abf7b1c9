"""A pipeline per signal: the memory limiter, then a fan-out to every consumer.

The first traces/logs consumer is the store, the durable stage: when it refuses, nobody else got
the batch and the receiver answers 429/503. Later consumers (connectors, the forwarder, the
Prometheus exporter) never refuse; they drop and count what they cannot hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from collector.otlp.signals import SignalName
from collector.pipeline.consumer import LogsConsumer, MetricsConsumer, TracesConsumer
from collector.pipeline.limiter import MemoryLimiter
from collector.storage.api import TraceStore


@dataclass
class Pipelines:
    store: TraceStore | None = None
    limiter: MemoryLimiter | None = None
    traces: list[TracesConsumer] = field(default_factory=list)
    metrics: list[MetricsConsumer] = field(default_factory=list)
    logs: list[LogsConsumer] = field(default_factory=list)

    def consume(self, signal: SignalName, batch: Sequence[Any]) -> None:
        """Hand ``batch`` to every consumer of ``signal``. Raises Refused (nobody took it)."""
        if not batch:
            return
        if self.limiter is not None:
            self.limiter.check()
        if signal == "traces":
            for traces in self.traces:
                traces.consume_traces(batch)
        elif signal == "metrics":
            for metrics in self.metrics:
                metrics.consume_metrics(batch)
        else:
            for logs in self.logs:
                logs.consume_logs(batch)

    async def durable(self, signal: SignalName) -> None:
        """Returns when what was consumed would survive a crash. Raises StorageError."""
        if self.store is not None and signal != "metrics":
            await self.store.durable()
