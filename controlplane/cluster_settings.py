"""TrafficPolicy settings (Istio DestinationRule shapes) as the sidecar's cluster fields.

``loadBalancer.simple`` ROUND_ROBIN / LEAST_REQUEST / RANDOM and ``consistentHash`` (a header or
cookie) become ``load_balancer``; ``connectionPool.tcp.maxConnections``,
``http.http1MaxPendingRequests`` and ``http.maxRequestsPerConnection`` become
``circuit_breakers``, ``tcp.connectTimeout`` ``connect_timeout_s``; ``outlierDetection`` becomes
``outlier_detection`` with Envoy's defaults for what it leaves out (a TrafficPolicy without it
turns outlier detection off, as in Istio).
"""

from __future__ import annotations

from typing import Any, Literal

from controlplane.api.resources import TrafficSettings
from controlplane.api.resources.base import parse_duration
from controlplane.api.sidecar import (
    CircuitBreakersConfig,
    LoadBalancerConfig,
    OutlierDetectionConfig,
)

Simple = Literal["round_robin", "least_request", "random"]
_SIMPLE: dict[str, Simple] = {
    "ROUND_ROBIN": "round_robin",
    "LEAST_REQUEST": "least_request",
    "RANDOM": "random",
}


def settings(policy: TrafficSettings | None) -> dict[str, Any]:
    """ClusterConfig fields for ``policy`` (none: the sidecar's defaults)."""
    if policy is None:
        return {}
    out: dict[str, Any] = {}
    if policy.loadBalancer is not None:
        out["load_balancer"] = _load_balancer(policy)
    pool = policy.connectionPool
    if pool is not None:
        out["circuit_breakers"] = _breakers(policy)
        if pool.tcp is not None and pool.tcp.connectTimeout is not None:
            out["connect_timeout_s"] = parse_duration(pool.tcp.connectTimeout)
    if policy.outlierDetection is not None:
        out["outlier_detection"] = _outlier(policy)
    return out


def _load_balancer(policy: TrafficSettings) -> LoadBalancerConfig:
    lb = policy.loadBalancer
    assert lb is not None
    if lb.consistentHash is not None:
        cookie = lb.consistentHash.httpCookie
        return LoadBalancerConfig(
            policy="ring_hash",
            hash_header=lb.consistentHash.httpHeaderName,
            hash_cookie=cookie.name if cookie is not None else None,
        )
    return LoadBalancerConfig(policy=_SIMPLE[lb.simple or "ROUND_ROBIN"])


def _breakers(policy: TrafficSettings) -> CircuitBreakersConfig:
    pool = policy.connectionPool
    assert pool is not None
    default = CircuitBreakersConfig()
    tcp, http = pool.tcp, pool.http
    return CircuitBreakersConfig(
        max_connections=(tcp.maxConnections if tcp and tcp.maxConnections else None)
        or default.max_connections,
        max_pending_requests=(http.http1MaxPendingRequests if http else None)
        or default.max_pending_requests,
        max_requests_per_connection=(http.maxRequestsPerConnection if http else None)
        or default.max_requests_per_connection,
    )


def _outlier(policy: TrafficSettings) -> OutlierDetectionConfig:
    od = policy.outlierDetection
    assert od is not None
    default = OutlierDetectionConfig()
    return OutlierDetectionConfig(
        consecutive_5xx=od.consecutive5xxErrors
        if od.consecutive5xxErrors is not None
        else default.consecutive_5xx,
        consecutive_gateway_errors=od.consecutiveGatewayErrors or 0,
        interval_s=parse_duration(od.interval) if od.interval else default.interval_s,
        base_ejection_s=parse_duration(od.baseEjectionTime)
        if od.baseEjectionTime
        else default.base_ejection_s,
        max_ejection_percent=od.maxEjectionPercent
        if od.maxEjectionPercent is not None
        else default.max_ejection_percent,
    )
