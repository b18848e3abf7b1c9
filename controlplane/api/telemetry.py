"""Telemetry names and settings shared by the sidecar, the control plane and the collector.

Istio's standard metric names, labels and buckets (istio/proxy ``istio_stats.cc``; Envoy's default
histogram buckets), the span attribute keys the sidecar writes, the headers it propagates, the
sidecar's ``telemetry:`` config section, and the rules the control plane compiles Telemetry
resources into (``Snapshot.telemetry``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

# --- Istio standard metrics ----------------------------------------------------------------------
REQUESTS_TOTAL = "istio_requests_total"
REQUEST_DURATION = "istio_request_duration_milliseconds"
REQUEST_BYTES = "istio_request_bytes"
RESPONSE_BYTES = "istio_response_bytes"
TCP_SENT_BYTES = "istio_tcp_sent_bytes_total"
TCP_RECEIVED_BYTES = "istio_tcp_received_bytes_total"
TCP_OPENED = "istio_tcp_connections_opened_total"
TCP_CLOSED = "istio_tcp_connections_closed_total"
# Envoy's default buckets, used by Istio for the duration (ms) and both byte histograms.
BUCKETS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
    600000, 1800000, 3600000,
)  # fmt: skip
# Labels in istio_stats.cc's emission order. TCP metrics carry all but the last two.
LABELS: tuple[str, ...] = (
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_canonical_service",
    "source_canonical_revision",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_cluster",
    "request_protocol",
    "response_flags",
    "connection_security_policy",
    "response_code",
    "grpc_response_status",
)
TCP_LABELS = LABELS[:-2]
UNKNOWN = "unknown"

# --- span attributes (OpenTelemetry HTTP semantic conventions, plus the mesh's own) ----------
HTTP_METHOD = "http.request.method"
URL_PATH = "url.path"
URL_QUERY = "url.query"
HTTP_ROUTE = "http.route"
HTTP_STATUS = "http.response.status_code"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
PEER_ADDRESS = "network.peer.address"
PEER_PORT = "network.peer.port"
USER_AGENT = "user_agent.original"
PROTOCOL_VERSION = "network.protocol.version"
ERROR_TYPE = "error.type"
MESH_SOURCE_WORKLOAD = "glassmesh.source.workload"
MESH_SOURCE_NAMESPACE = "glassmesh.source.namespace"
MESH_SOURCE_PRINCIPAL = "glassmesh.source.principal"
MESH_DESTINATION_WORKLOAD = "glassmesh.destination.workload"
MESH_DESTINATION_NAMESPACE = "glassmesh.destination.namespace"
MESH_DESTINATION_PRINCIPAL = "glassmesh.destination.principal"
MESH_DESTINATION_SERVICE = "glassmesh.destination.service"
MESH_CLUSTER = "glassmesh.upstream.cluster"
MESH_ENDPOINT = "glassmesh.upstream.endpoint"
MESH_RESPONSE_FLAGS = "glassmesh.response_flags"
MESH_RETRIES = "glassmesh.retry_count"
MESH_MTLS = "glassmesh.mtls"
MESH_REQUEST_ID = "glassmesh.request_id"
PEER_SERVICE = "peer.service"

# --- headers ---------------------------------------------------------------------------------
TRACEPARENT = b"traceparent"
TRACESTATE = b"tracestate"
B3 = b"b3"
B3_TRACE_ID = b"x-b3-traceid"
B3_SPAN_ID = b"x-b3-spanid"
B3_PARENT_SPAN_ID = b"x-b3-parentspanid"
B3_SAMPLED = b"x-b3-sampled"
B3_FLAGS = b"x-b3-flags"
FORCE_TRACE = b"x-glassmesh-trace"
# Workload metadata one sidecar tells its peer (request: the caller's; response: the callee's),
# Istio's metadata exchange in one header. Removed before the app sees it.
PEER_METADATA = b"x-glassmesh-peer"

# --- configuration ---------------------------------------------------------------------------
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
Seconds = Annotated[float, msgspec.Meta(gt=0, le=3600)]
AccessLogMode = Literal["all", "errors", "off"]


class TelemetryConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The sidecar's ``telemetry:`` section: where telemetry goes and the defaults that Telemetry
    resources from the control plane override.

    ``otlp_endpoint`` is the collector's OTLP/HTTP base URL (``/v1/traces`` etc. are appended);
    without it nothing leaves over OTLP, but metrics are still served on ``/stats/prometheus`` and
    access logs still go to stdout. ``max_queue`` bounds the finished exchanges waiting for the
    exporter and ``max_export_batch`` one OTLP request; past either, telemetry is dropped and
    counted, never the request. ``access_log_otlp`` also sends each access log entry as an OTLP
    log record; off by default, as Istio logs to stdout unless an OTel provider is configured."""

    enabled: bool = True
    otlp_endpoint: str | None = None
    metrics_interval_s: Seconds = 10.0
    flush_interval_s: Seconds = 1.0
    export_timeout_s: Seconds = 2.0
    max_queue: Annotated[int, msgspec.Meta(ge=16, le=1_000_000)] = 16384
    max_export_batch: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 2048
    max_series: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 4096
    sampling_percent: Percent = 1.0
    access_log: AccessLogMode = "all"
    access_log_format: Literal["text", "json"] = "text"
    access_log_otlp: bool = False
    cluster_id: str = "Kubernetes"

    def __post_init__(self) -> None:
        url = self.otlp_endpoint
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"otlp_endpoint: {url[:80]!r} is not an http:// or https:// URL")


class TelemetryRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One Telemetry resource as the control plane compiles it for a namespace's sidecars.

    ``scope`` is ``mesh`` (root namespace, no selector), ``namespace`` (no selector) or
    ``workload`` (``match_labels`` select the sidecars). A field left None inherits from the
    wider scope (workload over namespace over mesh over the sidecar's own config)."""

    name: str
    scope: Literal["mesh", "namespace", "workload"]
    match_labels: dict[str, str] = {}
    sampling_percent: Percent | None = None
    access_log: AccessLogMode | None = None
