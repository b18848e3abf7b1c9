"""The sidecar's configuration: what a user writes in sidecar.yaml and the control plane pushes.

Structs are frozen and forbid unknown fields, so a typo fails at start-up with the JSON path of the
field at fault (``$.clusters[0].endpoints[1].port``) instead of being ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec

from controlplane.api.identity import is_spiffe_id
from controlplane.api.resources import AuthorizationPolicy, PeerAuthentication
from controlplane.api.routes import VirtualHost
from controlplane.api.telemetry import TelemetryConfig

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]
# A cluster of one subset of a service's endpoints is named <service cluster>|<subset>.
_CLUSTER_NAME_RE = re.compile(r"[a-z0-9]([a-z0-9.\-|]{0,251}[a-z0-9])?\Z", re.ASCII)


class _Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every user-written config struct."""


def _check_spiffe_id(value: str, field: str) -> None:
    if not is_spiffe_id(value):
        raise ValueError(f"{field}: {value!r} is not a SPIFFE ID like spiffe://td/ns/N/sa/S")


class Address(_Config, frozen=True):
    """A host and port to listen on or connect to."""

    port: Port
    address: str = "127.0.0.1"


class TlsConfig(_Config, frozen=True):
    """The workload's TLS material, as PEM files."""

    cert: str
    key: str
    ca_bundle: str


class ControlPlaneConfig(_Config, frozen=True):
    """The control plane this sidecar gets its certificate and its routing from: its HTTPS URL,
    the CA that signed its serving certificate, and a join token (a file holding it, or the token
    itself). ``snapshot_file`` keeps the last good config, so the sidecar starts on it while the
    control plane is down (default: ``glassmesh-state/<namespace>.<service>[.<labels hash>].json``
    beside the config file; give instances sharing a directory and labels one each). The stream
    is pinged every ``ping_s``, well within the registry's lease."""

    url: str
    ca_file: str
    token_file: str | None = None
    token: str | None = None
    snapshot_file: str | None = None
    ping_s: PositiveSeconds = 3.0

    def __post_init__(self) -> None:
        if not self.url.startswith("https://") or len(self.url) <= len("https://"):
            raise ValueError(f"url: {self.url[:80]!r} is not an https:// URL")
        if (self.token_file is None) == (self.token is None):
            raise ValueError("token_file: give either token_file or token")


class ReadinessConfig(_Config, frozen=True):
    """How the sidecar probes its app (with a control plane): an HTTP GET of ``path`` that must
    answer 2xx or 3xx, or without a path a TCP connect, every ``interval_s``. The app turns
    ready after ``success_threshold`` successes in a row and not ready after
    ``failure_threshold`` failures in a row (Kubernetes' probe semantics)."""

    path: str | None = None
    interval_s: PositiveSeconds = 2.0
    timeout_s: PositiveSeconds = 1.0
    success_threshold: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    failure_threshold: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3

    def __post_init__(self) -> None:
        if self.path is not None and not re.fullmatch(r"/[\x21-\x7e]*", self.path):
            raise ValueError(f"path: {self.path[:80]!r} is not an absolute path")


class ListenersConfig(_Config, frozen=True):
    """Where the sidecar listens. Port 0 picks a free port (the admin API reports it)."""

    outbound: Address = Address(port=15001)
    inbound: Address = Address(port=15006)
    admin: Address = Address(port=15000)


class EndpointConfig(_Config, frozen=True):
    """One instance of a cluster."""

    address: str
    port: Port


class LoadBalancerConfig(_Config, frozen=True):
    """How an endpoint is picked: ``round_robin``, ``least_request`` (the less busy of two picked
    at random), ``random``, or ``ring_hash`` on a request header or cookie (consistent: taking one
    of N endpoints away moves about 1/N of the keys)."""

    policy: Literal["round_robin", "least_request", "random", "ring_hash"] = "round_robin"
    hash_header: str | None = None
    hash_cookie: str | None = None

    def __post_init__(self) -> None:
        if self.policy == "ring_hash" and not (self.hash_header or self.hash_cookie):
            raise ValueError("hash_header: ring_hash needs hash_header or hash_cookie")


class CircuitBreakersConfig(_Config, frozen=True):
    """Bounds per cluster (Envoy's defaults). Past them a request is answered 503 UO at once."""

    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 1024
    max_pending_requests: Annotated[int, msgspec.Meta(ge=0)] = 1024
    max_requests_per_connection: Annotated[int, msgspec.Meta(ge=0)] = 0  # 0: no limit


class OutlierDetectionConfig(_Config, frozen=True):
    """Passive health checking: an endpoint answering ``consecutive_5xx`` 5xx (or failing to
    connect) in a row, or ``consecutive_gateway_errors`` 502/503/504 in a row, is ejected for
    ``base_ejection_s`` times the number of its ejections, never more than
    ``max_ejection_percent`` of the cluster at once. 0 turns a trigger off."""

    consecutive_5xx: Annotated[int, msgspec.Meta(ge=0)] = 5
    consecutive_gateway_errors: Annotated[int, msgspec.Meta(ge=0)] = 0
    interval_s: PositiveSeconds = 10.0
    base_ejection_s: PositiveSeconds = 30.0
    max_ejection_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] = 10.0


class ClusterConfig(_Config, frozen=True):
    """An upstream service: the hosts that name it and the endpoints that serve it.

    ``tls: mtls`` endpoints are peer sidecars, reached over mutual TLS; the peer must present
    ``identity`` (or one of ``identities``, more workloads registered for the service) as its
    SPIFFE ID. ``tls: plaintext`` endpoints are reached in the clear. With fewer healthy
    (not ejected) endpoints than ``panic_threshold_percent``, all are used.
    """

    name: str
    hosts: list[str] = []
    identity: str | None = None
    identities: list[str] = []
    tls: Literal["mtls", "plaintext"] = "mtls"
    endpoints: list[EndpointConfig] = []
    load_balancer: LoadBalancerConfig = LoadBalancerConfig()
    circuit_breakers: CircuitBreakersConfig = CircuitBreakersConfig()
    outlier_detection: OutlierDetectionConfig | None = None
    panic_threshold_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] = 50.0
    connect_timeout_s: PositiveSeconds | None = None  # the sidecar's timeouts.connect_s if unset

    def __post_init__(self) -> None:
        if not _CLUSTER_NAME_RE.match(self.name):
            raise ValueError(f"name: {self.name!r} is not a DNS-style name")
        if self.tls == "mtls":
            if self.identity is None:
                raise ValueError(f"identity: cluster {self.name!r} uses mtls and needs one")
            _check_spiffe_id(self.identity, "identity")
            for extra in self.identities:
                _check_spiffe_id(extra, "identities")

    def accepted_identities(self) -> frozenset[str]:
        """Every SPIFFE ID a peer of this cluster may present."""
        return frozenset([*([self.identity] if self.identity else []), *self.identities])


class LimitsConfig(_Config, frozen=True):
    """Bounds on what a peer may make us hold (Envoy's defaults unless noted)."""

    max_request_headers_kb: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 60
    max_request_headers: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 100
    max_request_line_kb: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 8
    buffer_kb: Annotated[int, msgspec.Meta(ge=16, le=65536)] = 1024
    max_idle_connections_per_endpoint: Annotated[int, msgspec.Meta(ge=0)] = 64


class TimeoutsConfig(_Config, frozen=True):
    """Durations in seconds (Envoy's defaults, plus a header-read timeout against slowloris)."""

    header_read_s: PositiveSeconds = 10.0
    idle_s: PositiveSeconds = 3600.0
    connect_s: PositiveSeconds = 5.0
    request_s: PositiveSeconds = 15.0
    drain_s: PositiveSeconds = 5.0


class SidecarConfig(_Config, frozen=True):
    """A whole sidecar: its workload, listeners, local app, upstream clusters and TLS material.

    The TLS material comes either from files (``tls``) or from the control plane
    (``control_plane``); exactly one of the two is given.
    """

    service: str
    identity: str
    app: Address
    tls: TlsConfig | None = None
    control_plane: ControlPlaneConfig | None = None
    namespace: str = "default"
    # Labels of this instance (``version: v2``): TrafficPolicy subsets select endpoints by them.
    labels: dict[str, str] = {}
    readiness: ReadinessConfig = ReadinessConfig()
    # Where peers reach the inbound listener, when that listens on a wildcard address.
    advertise_address: str | None = None
    listeners: ListenersConfig = ListenersConfig()
    clusters: list[ClusterConfig] = []
    limits: LimitsConfig = LimitsConfig()
    timeouts: TimeoutsConfig = TimeoutsConfig()
    # Spans, metrics and access logs: where they go and their defaults (docs/sidecar.md).
    telemetry: TelemetryConfig = TelemetryConfig()
    # A file holding the bearer token the admin API asks for (all but /ready). Required when the
    # admin listener is not on a loopback address.
    admin_token_file: str | None = None

    # Standalone mode (no control_plane): routes and inbound policies from this file, in the
    # shapes the control plane pushes (controlplane/api/routes.py and the resource kinds).
    virtual_hosts: list[VirtualHost] = []
    authorization_policies: list[AuthorizationPolicy] = []
    peer_authentications: list[PeerAuthentication] = []

    def __post_init__(self) -> None:
        pushed = self.virtual_hosts or self.authorization_policies or self.peer_authentications
        if self.control_plane is not None and pushed:
            raise ValueError(
                "virtual_hosts: with control_plane, routes and policies come from the control plane"
            )
        _check_spiffe_id(self.identity, "identity")
        if self.tls is not None and self.control_plane is not None:
            raise ValueError("control_plane: give either tls or control_plane, not both")
        if self.tls is None and self.control_plane is None:
            raise ValueError("tls: the sidecar needs tls (files) or control_plane (issued certs)")
        if self.admin_token_file is None and not _loopback(self.listeners.admin.address):
            raise ValueError("admin_token_file: an admin listener off loopback needs a token")
        seen: set[str] = set()
        for cluster in self.clusters:
            for host in (cluster.name, *cluster.hosts):
                if host in seen:
                    raise ValueError(f"clusters: host {host!r} names more than one cluster")
                seen.add(host)


def _loopback(address: str) -> bool:
    return address in {"localhost", "::1"} or address.startswith("127.")


class ConfigError(ValueError):
    """A config document is invalid; the message names the field at fault."""


def decode_sidecar_config(
    data: bytes | str, *, control_plane: Mapping[str, str] | None = None
) -> SidecarConfig:
    """Decode and validate a sidecar.yaml document. Raises ConfigError naming the bad field.

    ``control_plane`` (command-line values) fills or overrides fields of the document's
    ``control_plane`` section before validation.
    """
    try:
        if not control_plane:
            return msgspec.yaml.decode(data, type=SidecarConfig)
        raw = msgspec.yaml.decode(data)
        if not isinstance(raw, dict):
            raise ConfigError("Expected `object` - at `$`")
        section = raw.get("control_plane") or {}
        if not isinstance(section, dict):
            raise ConfigError("Expected `object` - at `$.control_plane`")
        merged = {**section, **control_plane}
        for given, other in (("token", "token_file"), ("token_file", "token")):
            if given in control_plane:  # a token on the command line replaces the file's
                merged.pop(other, None)
        raw["control_plane"] = merged
        return msgspec.convert(raw, SidecarConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"not valid YAML: {exc}") from None
