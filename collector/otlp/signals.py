"""The three OTLP signals: their request and response messages and what a rejection counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb

SignalName = Literal["traces", "metrics", "logs"]


@dataclass(frozen=True)
class Signal:
    """One signal: ``name`` (also the URL path /v1/<name>), its Export request/response types,
    the request field holding the resource batches and the partial-success counter field."""

    name: SignalName
    request: type[Message]
    response: type[Message]
    partial: type[Message]
    resources_field: str
    rejected_field: str
    item: str  # what one item is called in messages and metrics: span, data point, log record

    def response_message(self, rejected: int, message: str) -> Message:
        """The Export response: ``partial_success`` set only when something was rejected or
        there is a warning (the spec: unset on full success)."""
        response = self.response()
        if rejected or message:
            partial = self.partial(**{self.rejected_field: rejected, "error_message": message})
            response.partial_success.CopyFrom(partial)  # type: ignore[attr-defined]
        return response


TRACES = Signal(
    "traces",
    trace_pb.ExportTraceServiceRequest,
    trace_pb.ExportTraceServiceResponse,
    trace_pb.ExportTracePartialSuccess,
    "resource_spans",
    "rejected_spans",
    "span",
)
METRICS = Signal(
    "metrics",
    metrics_pb.ExportMetricsServiceRequest,
    metrics_pb.ExportMetricsServiceResponse,
    metrics_pb.ExportMetricsPartialSuccess,
    "resource_metrics",
    "rejected_data_points",
    "data point",
)
LOGS = Signal(
    "logs",
    logs_pb.ExportLogsServiceRequest,
    logs_pb.ExportLogsServiceResponse,
    logs_pb.ExportLogsPartialSuccess,
    "resource_logs",
    "rejected_log_records",
    "log record",
)
SIGNALS: dict[str, Signal] = {s.name: s for s in (TRACES, METRICS, LOGS)}
