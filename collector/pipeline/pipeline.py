"""A pipeline per signal: the memory limiter, then a fan-out to every consumer.

The first traces/logs consumer is the store, the durable stage: when it refuses, nobody else got
the batch and the receiver answers 429/503. Later consumers (connectors, the forwarder, the
Prometheus exporter) never refuse; they drop and count what they cannot hold.

Spans travel as a ``SpanBatch`` (each span's fields read once); a consumer offering
``consume_spans`` gets it, any other ``TracesConsumer`` gets the protobuf batch. A consumer
offering ``consume_raw`` also gets the request's protobuf bytes when the receiver had them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from collector.otlp.signals import SignalName
from collector.otlp.spanbatch import SpanBatch
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

    def consume(self, signal: SignalName, batch: Sequence[Any], raw: bytes | None = None) -> None:
        """Hand ``batch`` to every consumer of ``signal``. Raises Refused (nobody took it)."""
        if signal == "traces":
            self.consume_spans(SpanBatch.read(batch, raw, check=False))
            return
        if not batch:
            return
        if self.limiter is not None:
            self.limiter.check()
        consumers: Sequence[Any] = self.metrics if signal == "metrics" else self.logs
        for consumer in consumers:
            take_raw = getattr(consumer, "consume_raw", None)
            if take_raw is not None:
                take_raw(signal, batch, raw)
            elif signal == "metrics":
                consumer.consume_metrics(batch)
            else:
                consumer.consume_logs(batch)

    def consume_spans(self, batch: SpanBatch) -> None:
        """Hand a read span batch to every traces consumer. Raises Refused (nobody took it)."""
        if not batch.spans:
            return
        if self.limiter is not None:
            self.limiter.check()
        for consumer in self.traces:
            take = getattr(consumer, "consume_spans", None)
            if take is not None:
                take(batch)
            else:
                consumer.consume_traces(batch.resources)

    async def durable(self, signal: SignalName) -> None:
        """Returns when what was consumed would survive a crash. Raises StorageError."""
        if self.store is not None and signal != "metrics":
            await self.store.durable()
