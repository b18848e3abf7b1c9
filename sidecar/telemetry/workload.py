"""Who is on each side of an exchange: this sidecar's workload, its peer's (from the peer metadata
header), and the Istio label values of an exchange.

Peer sidecars tell each other their workload in ``x-glassmesh-peer`` (the caller on the request,
the callee on the response), Istio's metadata exchange in one header. It is a claim, not a proof:
only the principal comes from the verified certificate. Values are cleaned to a safe alphabet and
the number of distinct peers remembered is bounded, so labels stay bounded whatever a peer sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from controlplane.api.sidecar import SidecarConfig
from controlplane.api.telemetry import PEER_METADATA, UNKNOWN

MAX_PEERS = 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._\-/:]")
_FQDN_SUFFIX = ".svc.cluster.local"


@dataclass(frozen=True)
class Workload:
    """One side's workload labels, Istio's meaning."""

    name: str = UNKNOWN
    namespace: str = UNKNOWN
    app: str = UNKNOWN
    version: str = UNKNOWN
    canonical_service: str = UNKNOWN
    canonical_revision: str = "latest"
    cluster: str = UNKNOWN

    def header_line(self) -> bytes:
        """The ``x-glassmesh-peer`` line telling a peer sidecar who we are."""
        fields = (self.name, self.namespace, self.app, self.version, self.canonical_service,
                  self.canonical_revision, self.cluster)  # fmt: skip
        return PEER_METADATA + b": " + ";".join(fields).encode("ascii") + b"\r\n"


def clean(value: str, limit: int = 63) -> str:
    """``value`` in a label-safe alphabet and bounded length ("unknown" if empty)."""
    return _UNSAFE.sub("_", value)[:limit] or UNKNOWN


def own_workload(config: SidecarConfig) -> Workload:
    """This sidecar's workload: ``labels`` as Kubernetes would carry them (``app``,
    ``version``, ``service.istio.io/canonical-name``), else the service name."""
    labels = config.labels
    app = labels.get("app", config.service)
    version = labels.get("version", UNKNOWN)
    name = labels.get("workload") or (
        config.service if version == UNKNOWN else f"{config.service}-{version}"
    )
    return Workload(
        name=clean(name),
        namespace=clean(config.namespace),
        app=clean(app),
        version=clean(version),
        canonical_service=clean(labels.get("service.istio.io/canonical-name", config.service)),
        canonical_revision=clean(
            labels.get(
                "service.istio.io/canonical-revision", "latest" if version == UNKNOWN else version
            )
        ),
        cluster=clean(config.telemetry.cluster_id),
    )


class PeerDirectory:
    """Peer metadata header values -> Workload, remembered up to MAX_PEERS distinct values."""

    def __init__(self) -> None:
        self._known: dict[bytes, Workload] = {}
        self.overflow = 0

    def lookup(self, raw: bytes) -> Workload | None:
        """The workload ``raw`` describes, None if absent or malformed (or past the bound)."""
        if not raw:
            return None
        found = self._known.get(raw)
        if found is not None:
            return found
        if len(self._known) >= MAX_PEERS:
            self.overflow += 1
            return None
        parts = raw.decode("ascii", "replace").split(";")
        if len(parts) != 7:
            return None
        workload = Workload(*(clean(p) for p in parts))
        self._known[raw] = workload
        return workload


def principal_namespace(principal: str) -> str:
    """The namespace of a SPIFFE ID ``spiffe://td/ns/<ns>/sa/<sa>``, else unknown."""
    parts = principal.split("/")
    if len(parts) >= 7 and parts[3] == "ns":
        return clean(parts[4])
    return UNKNOWN


@dataclass(frozen=True)
class Destination:
    """What a cluster tells about the service it reaches: host, name, namespace, principal."""

    service: str
    name: str
    namespace: str
    principal: str


def destination(
    cluster_name: str, server_name: str, ids: frozenset[str] | None, own_ns: str
) -> Destination:
    """The destination labels of an outbound cluster (a subset cluster ``reviews|v2`` is the
    service reviews; ``reviews.shop`` is reviews of namespace shop)."""
    base = cluster_name.split("|", 1)[0]
    host = server_name or base
    if host.endswith(_FQDN_SUFFIX):
        host = host[: -len(_FQDN_SUFFIX)]
    name, _, namespace = host.partition(".")
    principal = next(iter(ids)) if ids and len(ids) == 1 else UNKNOWN
    if not namespace:
        namespace = principal_namespace(principal) if principal != UNKNOWN else own_ns
    namespace = namespace.split(".", 1)[0]
    return Destination(
        service=clean(f"{name}.{namespace}{_FQDN_SUFFIX}", 253),
        name=clean(name),
        namespace=clean(namespace),
        principal=clean(principal, 253),
    )
