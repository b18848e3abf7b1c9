"""glassmesh.io/v1alpha1 policies with Istio-like shapes: TrafficPolicy, AuthorizationPolicy,
PeerAuthentication, Telemetry and Fault."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Literal

import msgspec

from controlplane.api.resources.base import (
    GLASSMESH_V1ALPHA1,
    ROOT_NAMESPACE,
    Config,
    Count,
    Duration,
    HeaderName,
    Labels,
    Name,
    Percent,
    Resource,
    Selector,
    exactly_one,
)

# --- TrafficPolicy (Istio DestinationRule-like) --------------------------------------------------


class CookieHash(Config, frozen=True):
    name: str
    path: str | None = None
    ttl: Duration | None = None


class ConsistentHash(Config, frozen=True):
    httpHeaderName: HeaderName | None = None
    httpCookie: CookieHash | None = None

    def __post_init__(self) -> None:
        exactly_one(self, ("httpHeaderName", "httpCookie"))


class LoadBalancer(Config, frozen=True):
    simple: Literal["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"] | None = None
    consistentHash: ConsistentHash | None = None

    def __post_init__(self) -> None:
        exactly_one(self, ("simple", "consistentHash"))


class HttpPool(Config, frozen=True):
    maxRequestsPerConnection: Count | None = None
    http1MaxPendingRequests: Count | None = None


class TcpPool(Config, frozen=True):
    maxConnections: Count | None = None
    connectTimeout: Duration | None = None


class ConnectionPool(Config, frozen=True):
    http: HttpPool | None = None
    tcp: TcpPool | None = None


class OutlierDetection(Config, frozen=True):
    consecutive5xxErrors: Count | None = None
    consecutiveGatewayErrors: Count | None = None
    interval: Duration | None = None
    baseEjectionTime: Duration | None = None
    maxEjectionPercent: Percent | None = None


class TrafficSettings(Config, frozen=True):
    loadBalancer: LoadBalancer | None = None
    connectionPool: ConnectionPool | None = None
    outlierDetection: OutlierDetection | None = None


class Subset(Config, frozen=True):
    """The endpoints of a host whose labels match, addressable by name from a backendRef."""

    name: Name
    labels: Labels = {}
    trafficPolicy: TrafficSettings | None = None


class TrafficPolicySpec(Config, frozen=True):
    host: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    trafficPolicy: TrafficSettings | None = None
    subsets: list[Subset] = []

    def __post_init__(self) -> None:
        names = [s.name for s in self.subsets]
        if len(set(names)) != len(names):
            raise ValueError("subsets: subset names must be unique")


class TrafficPolicy(Resource, frozen=True, kw_only=True):
    """How traffic to one host is balanced, pooled and ejected, and its named subsets."""

    apiVersion: Literal["glassmesh.io/v1alpha1"] = GLASSMESH_V1ALPHA1
    kind: Literal["TrafficPolicy"] = "TrafficPolicy"
    spec: TrafficPolicySpec


# --- AuthorizationPolicy, PeerAuthentication, Telemetry, Fault (Istio-like shapes) --------------


class Source(Config, frozen=True):
    principals: list[str] = []
    notPrincipals: list[str] = []
    namespaces: list[str] = []
    notNamespaces: list[str] = []


class From(Config, frozen=True):
    source: Source


class Operation(Config, frozen=True):
    methods: list[str] = []
    paths: list[str] = []
    notPaths: list[str] = []
    hosts: list[str] = []


class To(Config, frozen=True):
    operation: Operation


class Condition(Config, frozen=True):
    key: Annotated[str, msgspec.Meta(min_length=1)]
    values: list[str] = []
    notValues: list[str] = []


class AuthorizationRule(Config, frozen=True):
    from_: list[From] = msgspec.field(default_factory=list, name="from")
    to: list[To] = []
    when: list[Condition] = []


class AuthorizationPolicySpec(Config, frozen=True):
    selector: Selector | None = None
    action: Literal["ALLOW", "DENY"] = "ALLOW"
    rules: list[AuthorizationRule] = []


class AuthorizationPolicy(Resource, frozen=True, kw_only=True):
    """Allows or denies requests to selected workloads by source identity and operation."""

    apiVersion: Literal["glassmesh.io/v1alpha1"] = GLASSMESH_V1ALPHA1
    kind: Literal["AuthorizationPolicy"] = "AuthorizationPolicy"
    spec: AuthorizationPolicySpec


class MutualTLS(Config, frozen=True):
    mode: Literal["STRICT", "PERMISSIVE", "DISABLE"]


class PeerAuthenticationSpec(Config, frozen=True):
    selector: Selector | None = None
    mtls: MutualTLS | None = None


class PeerAuthentication(Resource, frozen=True, kw_only=True):
    """Whether selected workloads accept plaintext; mesh-wide in ROOT_NAMESPACE without selector."""

    apiVersion: Literal["glassmesh.io/v1alpha1"] = GLASSMESH_V1ALPHA1
    kind: Literal["PeerAuthentication"] = "PeerAuthentication"
    spec: PeerAuthenticationSpec

    def is_mesh_wide(self) -> bool:
        """Returns whether this policy applies to every namespace."""
        return self.metadata.namespace == ROOT_NAMESPACE and self.spec.selector is None


class Tracing(Config, frozen=True):
    randomSamplingPercentage: Percent | None = None


class AccessLogFilter(Config, frozen=True):
    expression: str


class AccessLogging(Config, frozen=True):
    disabled: bool = False
    filter: AccessLogFilter | None = None


class TelemetrySpec(Config, frozen=True):
    selector: Selector | None = None
    tracing: list[Tracing] = []
    accessLogging: list[AccessLogging] = []


class Telemetry(Resource, frozen=True, kw_only=True):
    """Trace sampling and access logging for selected workloads."""

    apiVersion: Literal["glassmesh.io/v1alpha1"] = GLASSMESH_V1ALPHA1
    kind: Literal["Telemetry"] = "Telemetry"
    spec: TelemetrySpec


class FaultDelay(Config, frozen=True):
    fixedDelay: Duration
    percentage: Percent = 100.0


class FaultAbort(Config, frozen=True):
    httpStatus: Annotated[int, msgspec.Meta(ge=200, le=599)]
    percentage: Percent = 100.0


class FaultSpec(Config, frozen=True):
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None

    def __post_init__(self) -> None:
        if self.delay is None and self.abort is None:
            raise ValueError("delay: set delay, abort or both")


class Fault(Resource, frozen=True, kw_only=True):
    """Injected delays and aborts, referenced from an HTTPRoute filter (ExtensionRef)."""

    apiVersion: Literal["glassmesh.io/v1alpha1"] = GLASSMESH_V1ALPHA1
    kind: Literal["Fault"] = "Fault"
    spec: FaultSpec


def peer_mode(
    policies: Sequence[PeerAuthentication], namespace: str, labels: Mapping[str, str]
) -> str:
    """A workload's PeerAuthentication mode: a policy selecting it wins over its namespace's
    selector-less one, which wins over the mesh-wide one; STRICT when none applies. The sidecar
    admits connections by it; the control plane tells clients of an all-DISABLE service to
    connect in plaintext."""
    best: tuple[int, str] | None = None
    for policy in policies:
        rank = _peer_rank(policy, namespace, labels)
        if rank and policy.spec.mtls is not None and (best is None or rank > best[0]):
            best = (rank, policy.spec.mtls.mode)
    return best[1] if best else "STRICT"


def _peer_rank(policy: PeerAuthentication, namespace: str, labels: Mapping[str, str]) -> int:
    """3 for a workload policy, 2 for the namespace's, 1 mesh-wide, 0 if it does not apply."""
    selector = policy.spec.selector
    if policy.is_mesh_wide():
        return 1
    if policy.metadata.namespace != namespace:
        return 0
    if selector is None:
        return 2
    return 3 if selector.matchLabels.items() <= labels.items() else 0
