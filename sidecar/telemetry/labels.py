"""The Istio label values of an exchange (``controlplane.api.telemetry.LABELS`` order).

``reporter="source"`` on the outbound side: the source is this workload, the destination is the
cluster's service plus what the callee's sidecar said about itself in its response. On the inbound
side ``reporter="destination"``: the destination is this workload, the source is the caller's
verified principal plus what its sidecar said in the request. Paths and hosts never become labels;
a request answered locally before a cluster was chosen has an ``unknown`` destination service.
"""

from __future__ import annotations

from controlplane.api.telemetry import UNKNOWN
from sidecar.telemetry.hooks import Exchange
from sidecar.telemetry.workload import (
    Destination,
    PeerDirectory,
    Workload,
    clean,
    destination,
    principal_namespace,
)

Labels = tuple[str, ...]
_NO_PEER = Workload()
_NO_DESTINATION = Destination(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)
MAX_CLUSTERS = 4096


class LabelMaker:
    """Computes label tuples; caches what clusters and peers resolve to (bounded)."""

    def __init__(self, own: Workload, principal: str) -> None:
        self.own = own
        self.principal = clean(principal, 253)
        self.own_service = f"{own.canonical_service}.{own.namespace}.svc.cluster.local"
        self.peers = PeerDirectory()
        self._destinations: dict[tuple[str, str], Destination] = {}

    def labels(self, ex: Exchange) -> Labels:
        """All 25 label values of ``ex`` (TCP metrics use the first 23)."""
        status = str(ex.status)
        flags = ex.flag or "-"
        peer = self.peers.lookup(ex.peer_meta) or _NO_PEER
        own = self.own
        if ex.side.inbound:
            principal = clean(ex.peer_id, 253) if ex.peer_id else UNKNOWN
            src_ns = peer.namespace if peer.namespace != UNKNOWN else principal_namespace(principal)
            return (
                "destination",
                peer.name, src_ns, principal, peer.app, peer.version, peer.canonical_service,
                peer.canonical_revision, peer.cluster,
                own.name, own.namespace, self.principal, own.app, own.version, self.own_service,
                own.canonical_service, own.namespace, own.canonical_service,
                own.canonical_revision, own.cluster,
                "http", flags, "mutual_tls", status, "",
            )  # fmt: skip
        dest = self.destination(ex)
        return (
            "source",
            own.name, own.namespace, self.principal, own.app, own.version,
            own.canonical_service, own.canonical_revision, own.cluster,
            peer.name, peer.namespace if peer.namespace != UNKNOWN else dest.namespace,
            dest.principal, peer.app, peer.version, dest.service, dest.name, dest.namespace,
            peer.canonical_service, peer.canonical_revision, peer.cluster,
            "http", flags, "unknown", status, "",
        )  # fmt: skip

    def destination(self, ex: Exchange) -> Destination:
        cluster = ex.cluster
        if cluster is None:
            return _NO_DESTINATION
        settings = cluster.settings
        key = (cluster.name, settings.server_name)
        found = self._destinations.get(key)
        if found is None:
            ids = getattr(settings, "expected_ids", None)
            found = destination(cluster.name, settings.server_name, ids, self.own.namespace)
            if len(self._destinations) < MAX_CLUSTERS:
                self._destinations[key] = found
        return found
