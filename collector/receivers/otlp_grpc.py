"""The OTLP/gRPC receiver on 4317: the three Export services on a grpcio aio server.

Refusals answer UNAVAILABLE (or RESOURCE_EXHAUSTED when a queue is full) with a
``google.rpc.RetryInfo`` in the trailing metadata, which the OpenTelemetry exporters honour as
their backoff; bad data answers INVALID_ARGUMENT. The message size cap is gRPC's receive limit,
which applies after decompression.
"""

from __future__ import annotations

import math
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc as logs_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as metrics_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc

from collector.otlp import rpc
from collector.otlp.signals import LOGS, METRICS, TRACES, Signal
from collector.pipeline.pipeline import Pipelines
from collector.receivers.ingest import ingest
from collector.telemetry import SelfMetrics


class _Servicer:
    def __init__(self, signal: Signal, pipelines: Pipelines, metrics: SelfMetrics) -> None:
        self.signal = signal
        self.pipelines = pipelines
        self.metrics = metrics

    async def Export(
        self, request: Message, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Message:
        outcome = await ingest(self.signal, request, self.pipelines, self.metrics, "grpc")
        if outcome.kind == "bad":
            self._count("INVALID_ARGUMENT")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, outcome.message)
        if outcome.kind == "refused":
            code = (grpc.StatusCode.RESOURCE_EXHAUSTED if outcome.throttled
                    else grpc.StatusCode.UNAVAILABLE)  # fmt: skip
            delay = Duration(seconds=max(1, math.ceil(outcome.retry_after_s)))
            info = rpc.RetryInfo(retry_delay=delay).SerializeToString()
            self._count(code.name)
            await context.abort(code, outcome.message, (("google.rpc.retryinfo-bin", info),))
        self._count("OK")
        assert outcome.response is not None
        return outcome.response

    def _count(self, code: str) -> None:
        self.metrics.add("requests_total", signal=self.signal.name, transport="grpc", code=code)


class OtlpGrpcReceiver:
    """Owns the gRPC server. ``start`` returns the bound port."""

    def __init__(
        self, pipelines: Pipelines, metrics: SelfMetrics, max_msg_bytes: int, max_rpcs: int
    ) -> None:
        self.server = grpc.aio.server(
            options=[("grpc.max_receive_message_length", max_msg_bytes)],
            maximum_concurrent_rpcs=max_rpcs,
        )
        trace_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _Servicer(TRACES, pipelines, metrics), self.server
        )
        metrics_grpc.add_MetricsServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _Servicer(METRICS, pipelines, metrics), self.server
        )
        logs_grpc.add_LogsServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _Servicer(LOGS, pipelines, metrics), self.server
        )
        self._started = False

    async def start(self, host: str, port: int) -> int:
        bound = self.server.add_insecure_port(f"{host}:{port}")
        if bound == 0:
            raise OSError(f"cannot bind OTLP/gRPC to {host}:{port}")
        await self.server.start()
        self._started = True
        return bound

    async def shutdown(self) -> None:
        if self._started:
            self._started = False
            await self.server.stop(grace=1.0)
