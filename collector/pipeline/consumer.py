"""What every pipeline stage offers the one before it: take a batch of OTLP data, now.

Receivers, processors, connectors and exporters are joined by these interfaces, in the shape of
the OpenTelemetry Collector's ``consumer`` package. Batches are the OTLP protobuf messages
(``ResourceSpans``, ``ResourceMetrics``, ``ResourceLogs``) the receivers decoded, so a connector
or an exporter needs no model of ours to read them.

Every ``consume_*`` runs on the event loop thread and never blocks: a stage that cannot take a
batch now raises ``Refused`` (the receiver answers 429/503 with Retry-After), and a stage that
takes it keeps it (a durable stage has written it before it returns, or holds it in a bounded
queue it will not lose). The batch belongs to the callee afterwards; callers do not mutate it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import ResourceMetrics
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans


class Refused(Exception):
    """The stage cannot take the batch now (a queue is full, storage is over its bound).

    ``retry_after_s`` is when the client may try again; ``permanent`` marks data that will never
    be taken (the receiver answers 400 instead of 429/503)."""

    def __init__(self, reason: str, retry_after_s: float = 1.0, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.permanent = permanent


class TracesConsumer(Protocol):
    def consume_traces(self, batch: Sequence[ResourceSpans]) -> None:
        """Takes a batch of spans. Raises Refused if it cannot; never blocks."""


class MetricsConsumer(Protocol):
    def consume_metrics(self, batch: Sequence[ResourceMetrics]) -> None:
        """Takes a batch of metric points. Raises Refused if it cannot; never blocks."""


class LogsConsumer(Protocol):
    def consume_logs(self, batch: Sequence[ResourceLogs]) -> None:
        """Takes a batch of log records. Raises Refused if it cannot; never blocks."""


class Component(Protocol):
    async def start(self) -> None:
        """Starts the stage's background tasks on the running loop (flushers, sweepers)."""

    async def shutdown(self) -> None:
        """Flushes what it holds and stops its tasks. Idempotent."""
