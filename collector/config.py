"""What a user writes in collector.yaml: receivers, processors, storage, exporters, query API.

Every field has a default, so an empty file (or none) is a working collector on the standard
ports, bound to 127.0.0.1. Structs are frozen and forbid unknown fields: a typo fails at start-up
with the JSON path of the field at fault (``$.storage.retention_s``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

Seconds = Annotated[float, msgspec.Meta(gt=0)]
Bytes = Annotated[int, msgspec.Meta(ge=1024)]
Count = Annotated[int, msgspec.Meta(ge=1)]
MIB = 1024 * 1024


class ConfigError(ValueError):
    """A collector config is invalid; the message names the field at fault."""


class _Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every user-written config struct."""


class OtlpHttpConfig(_Config, frozen=True):
    """OTLP/HTTP receiver (protobuf and JSON on /v1/traces, /v1/metrics, /v1/logs)."""

    enabled: bool = True
    endpoint: str = "127.0.0.1:4318"
    max_request_body_bytes: Bytes = 20 * MIB  # after decompression (OTLP spec: 20 MiB)


class OtlpGrpcConfig(_Config, frozen=True):
    """OTLP/gRPC receiver (the three Export services)."""

    enabled: bool = True
    endpoint: str = "127.0.0.1:4317"
    max_recv_msg_bytes: Bytes = 4 * MIB  # gRPC's own default
    max_concurrent_rpcs: Count = 256


class OtlpReceiverConfig(_Config, frozen=True):
    http: OtlpHttpConfig = OtlpHttpConfig()
    grpc: OtlpGrpcConfig = OtlpGrpcConfig()


class ReceiversConfig(_Config, frozen=True):
    otlp: OtlpReceiverConfig = OtlpReceiverConfig()


class MemoryLimiterConfig(_Config, frozen=True):
    """Refuse data (429/503, gRPC UNAVAILABLE) while the process's RSS is above
    ``limit_mib - spike_limit_mib``; the OpenTelemetry Collector's memory_limiter."""

    enabled: bool = True
    limit_mib: Count = 1024
    spike_limit_mib: Annotated[int, msgspec.Meta(ge=0)] = 200
    check_interval_s: Seconds = 1.0


class ProcessorsConfig(_Config, frozen=True):
    memory_limiter: MemoryLimiterConfig = MemoryLimiterConfig()


class StorageConfig(_Config, frozen=True):
    """Traces and logs in SQLite under the data directory (``traces.db``)."""

    enabled: bool = True
    retention_s: Seconds = 72 * 3600.0  # spans and logs older than this are deleted
    max_bytes: Bytes = 4096 * MIB  # past this, the oldest spans and logs are deleted
    retention_interval_s: Seconds = 60.0
    queue_batches: Count = 256  # requests waiting for the writer thread
    queue_bytes: Bytes = 64 * MIB  # encoded bytes waiting for the writer thread
    synchronous: Literal["normal", "full"] = "normal"  # "full": fsync every commit (power loss)


class PrometheusExporterConfig(_Config, frozen=True):
    """The /metrics endpoint: sidecar metrics, connector metrics and the collector's own."""

    enabled: bool = True
    endpoint: str = "127.0.0.1:8889"
    metric_expiration_s: Seconds = 300.0  # a series not updated for this long disappears
    max_series: Count = 100_000  # distinct series held; past it new series are dropped


class OtlpForwardConfig(_Config, frozen=True):
    """Forward everything received to another collector over OTLP/HTTP protobuf."""

    endpoint: str | None = None  # e.g. http://otel-collector:4318; None = off
    headers: dict[str, str] = {}
    compression: Literal["gzip", "none"] = "gzip"
    queue_batches: Count = 1000
    timeout_s: Seconds = 5.0
    initial_backoff_s: Seconds = 5.0
    max_backoff_s: Seconds = 30.0
    max_elapsed_s: Seconds = 300.0


class ExportersConfig(_Config, frozen=True):
    prometheus: PrometheusExporterConfig = PrometheusExporterConfig()
    otlp_forward: OtlpForwardConfig = OtlpForwardConfig()


class QueryConfig(_Config, frozen=True):
    """The Jaeger-compatible query API (v1 and v3)."""

    enabled: bool = True
    endpoint: str = "127.0.0.1:16686"
    max_traces: Count = 1500  # upper bound on a search's limit
    default_lookback_s: Seconds = 2 * 86400.0  # Jaeger: start defaults to now - 2 days


class ConnectorsConfig(_Config, frozen=True):
    """Raw sections for collector.connectors (validated by their own config types at start-up);
    ``None`` means the connector's defaults."""

    servicegraph: dict[str, Any] | None = None
    spanmetrics: dict[str, Any] | None = None
    analysis: dict[str, Any] | None = None


class CollectorConfig(_Config, frozen=True):
    receivers: ReceiversConfig = ReceiversConfig()
    processors: ProcessorsConfig = ProcessorsConfig()
    storage: StorageConfig = StorageConfig()
    exporters: ExportersConfig = ExportersConfig()
    query: QueryConfig = QueryConfig()
    connectors: ConnectorsConfig = ConnectorsConfig()


def decode_config(data: bytes | str) -> CollectorConfig:
    """Decode and validate collector.yaml. Raises ConfigError naming the bad field."""
    try:
        config = msgspec.yaml.decode(data or b"{}", type=CollectorConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"not valid YAML: {exc}") from None
    _check_endpoints(config)
    return config


def _check_endpoints(config: CollectorConfig) -> None:
    endpoints = {
        "$.receivers.otlp.http.endpoint": config.receivers.otlp.http.endpoint,
        "$.receivers.otlp.grpc.endpoint": config.receivers.otlp.grpc.endpoint,
        "$.exporters.prometheus.endpoint": config.exporters.prometheus.endpoint,
        "$.query.endpoint": config.query.endpoint,
    }
    for path, value in endpoints.items():
        try:
            split_endpoint(value)
        except ValueError as exc:
            raise ConfigError(f"{exc} - at `{path}`") from None
    forward = config.exporters.otlp_forward.endpoint
    if forward is not None and not forward.startswith(("http://", "https://")):
        raise ConfigError(
            f"{forward[:80]!r} is not an http(s) URL - at `$.exporters.otlp_forward.endpoint`"
        )
    limiter = config.processors.memory_limiter
    if limiter.spike_limit_mib >= limiter.limit_mib:
        raise ConfigError(
            "spike_limit_mib must be below limit_mib - at `$.processors.memory_limiter`"
        )


def split_endpoint(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` for IPv6) as a pair. Raises ValueError."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{value[:80]!r} is not HOST:PORT")
    return host.strip("[]"), int(port)
