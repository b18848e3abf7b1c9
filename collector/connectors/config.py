"""What a user writes under ``connectors:``: the service-graph and span-metrics settings.

Defaults follow Tempo's metrics-generator (wait 10 s, 10,000 pending edges, its histogram
buckets). The sampling-ratio attribute (Tempo: ``X-SampleRatio``) is off by default: reading
it costs an attribute scan per span; the W3C tracestate threshold is read instead.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec

Seconds = Annotated[float, msgspec.Meta(gt=0)]
Count = Annotated[int, msgspec.Meta(ge=1)]
Buckets = Annotated[tuple[float, ...], msgspec.Meta(min_length=1)]

# Tempo: prometheus.ExponentialBuckets(0.1, 2, 8) for the service graph, (0.002, 2, 14) for spans.
SERVICE_GRAPH_BUCKETS = tuple(0.1 * 2**n for n in range(8))
SPAN_METRICS_BUCKETS = tuple(0.002 * 2**n for n in range(14))
# Tempo's three, then the messaging system and the host asked for (uninstrumented servers).
PEER_ATTRIBUTES = ("peer.service", "db.name", "db.system", "messaging.system", "server.address")

C = TypeVar("C", bound=msgspec.Struct)


class ServiceGraphConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The service-graph connector: span pairing (Tempo's) and the sidecar-metrics graph."""

    enabled: bool = True
    wait_s: Seconds = 10.0  # how long half an edge waits for its other half
    max_items: Count = 10_000  # pending halves; past it a span is dropped and counted
    flush_interval_s: Seconds = 15.0  # how often cumulative metrics are pushed out
    histogram_buckets: Buckets = SERVICE_GRAPH_BUCKETS
    peer_attributes: tuple[str, ...] = PEER_ATTRIBUTES
    span_multiplier_key: str = ""  # span attribute holding p (Tempo: X-SampleRatio); "" = off
    enable_tracestate_span_multiplier: bool = True  # W3C tracestate ot=th: threshold
    max_edges: Count = 10_000  # distinct (client, server, type) series; past it counted
    graph_slot_s: Seconds = 60.0  # time resolution of the graph API's windows
    graph_retention_s: Seconds = 3600.0  # how far back a graph window may reach
    max_mesh_series: Count = 50_000  # istio_requests_total series remembered for increments


class SpanMetricsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The span-metrics connector: calls and latency per (service, span, kind, status)."""

    enabled: bool = True
    flush_interval_s: Seconds = 15.0
    histogram_buckets: Buckets = SPAN_METRICS_BUCKETS
    max_series: Count = 10_000  # label sets; spans past it go to one overflow series
    span_multiplier_key: str = ""
    enable_tracestate_span_multiplier: bool = True
    exemplars: bool = True  # keep the last trace id seen in each latency bucket


def load(kind: type[C], raw: Any) -> C:
    """``raw`` (decoded YAML/JSON) converted to ``kind``.

    Raises ValueError naming the bad field's path (``... - at `$.wait_s```) or a bucket order."""
    try:
        config = msgspec.convert(raw if raw is not None else {}, kind)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from exc
    buckets = getattr(config, "histogram_buckets", ())
    if list(buckets) != sorted(set(buckets)):
        raise ValueError("histogram_buckets must be strictly increasing - at `$.histogram_buckets`")
    return config
