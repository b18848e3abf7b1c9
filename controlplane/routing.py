"""Compiles the registry and the stored resources into what one sidecar routes by.

For a sidecar in namespace ``viewer``: a cluster per registered service (its ready endpoints), a
cluster per TrafficPolicy subset of a registered service (the ready endpoints whose labels match),
and a VirtualHost per Service that HTTPRoutes govern, with its entries in Gateway API precedence.

Naming, as a sidecar in ``viewer`` sees a service ``svc`` of namespace ``ns``: the cluster is
``svc`` when ``ns == viewer`` (reachable as ``svc``, ``svc.ns`` and ``svc.ns.svc.cluster.local``),
else ``svc.ns`` (reachable as that and the FQDN). A subset's cluster is ``<cluster>|<subset>``.

Which routes apply (GAMMA): a route in the Service's own namespace (a producer route) applies to
every client; a route in the client's namespace (a consumer route) applies to that namespace's
clients only, and replaces the producer routes of that Service for them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from controlplane.api.resources import (
    BackendRef,
    Fault,
    FaultSpec,
    HTTPRoute,
    RouteFilter,
    RouteMatch,
    TrafficPolicy,
)
from controlplane.api.resources.policies import PeerAuthentication, peer_mode
from controlplane.api.routes import RouteEntry, VirtualHost, WeightedBackend, subset_cluster
from controlplane.api.sidecar import ClusterConfig, EndpointConfig
from controlplane.cluster_settings import settings
from controlplane.registry import Instance, Registry

log = logging.getLogger("glassmesh.controlplane.routing")

ServiceKey = tuple[str, str]  # (service, namespace)


def cluster_name(service: ServiceKey, viewer: str) -> str:
    """The name of a service's cluster as a sidecar in namespace ``viewer`` knows it."""
    name, namespace = service
    return name if namespace == viewer else f"{name}.{namespace}"


def cluster_hosts(service: ServiceKey, viewer: str) -> list[str]:
    """Every host name that reaches a service from namespace ``viewer``, its cluster name first."""
    name, namespace = service
    fqdn = f"{name}.{namespace}.svc.cluster.local"
    if namespace == viewer:
        return [name, f"{name}.{namespace}", fqdn]
    return [f"{name}.{namespace}", fqdn]


def service_of_host(host: str, namespace: str) -> ServiceKey:
    """(service, namespace) a host names: ``reviews``, ``reviews.ns`` or the FQDN."""
    parts = host.split(".")
    return (parts[0], parts[1] if len(parts) > 1 else namespace)


def clusters(
    registry: Registry,
    policies: Sequence[TrafficPolicy],
    viewer: str,
    peer_authentications: Sequence[PeerAuthentication] = (),
) -> list[ClusterConfig]:
    """A cluster for each registered service and for each subset of one a policy defines, with
    the policy's load balancing, connection pool and outlier detection (each of the three a subset
    sets itself replaces the policy's).

    Secure naming: a client accepts, as a service's peer, exactly the identities of the instances
    registered for it. A service all of whose instances are DISABLE (PeerAuthentication) is
    reached in plaintext."""
    by_service = {service_of_host(p.spec.host, p.metadata.namespace): p for p in policies}
    out: list[ClusterConfig] = []
    for service in registry.services():
        instances = registry.instances(*service)
        ready = [i for i in instances if i.ready]
        identities = sorted({i.identity for i in instances})
        name = cluster_name(service, viewer)
        policy = by_service.get(service)
        base = settings(policy.spec.trafficPolicy if policy else None)
        modes = {peer_mode(peer_authentications, i.namespace, i.labels) for i in instances}
        if modes == {"DISABLE"}:
            base = {**base, "tls": "plaintext"}
        out.append(_cluster(name, cluster_hosts(service, viewer)[1:], identities, ready, base))
        for subset in policy.spec.subsets if policy else []:
            members = [i for i in ready if subset.labels.items() <= i.labels.items()]
            own = {**base, **settings(subset.trafficPolicy)}  # Istio: field by field
            out.append(_cluster(subset_cluster(name, subset.name), [], identities, members, own))
    return out


def _cluster(
    name: str,
    hosts: list[str],
    identities: list[str],
    members: Sequence[Instance],
    policy: dict[str, Any],
) -> ClusterConfig:
    plaintext = policy.get("tls") == "plaintext"
    return ClusterConfig(
        name=name,
        hosts=hosts,
        identity=None if plaintext else identities[0],
        identities=[] if plaintext else identities[1:],
        endpoints=[EndpointConfig(address=i.address, port=i.port) for i in members],
        **policy,
    )


def virtual_hosts(
    routes: Sequence[HTTPRoute], viewer: str, faults: Sequence[Fault] = ()
) -> list[VirtualHost]:
    """A VirtualHost for each Service the routes that apply to ``viewer`` govern; ``faults`` are
    what ExtensionRef filters may name."""
    by_name = {(f.metadata.namespace, f.metadata.name): f.spec for f in faults}
    by_parent: dict[ServiceKey, list[tuple[HTTPRoute, bool]]] = defaultdict(list)
    for route in routes:
        for parent in route.spec.parentRefs:
            service = (parent.name, parent.namespace or route.metadata.namespace)
            producer = route.metadata.namespace == service[1]
            if producer or route.metadata.namespace == viewer:
                by_parent[service].append((route, producer))
    hosts = []
    for service, applying in sorted(by_parent.items()):
        consumer = [r for r, producer in applying if not producer]
        chosen = consumer or [r for r, _ in applying]
        entries = [e for r in _oldest_first(chosen) for e in _entries(r, viewer, by_name)]
        hosts.append(
            VirtualHost(
                name=cluster_name(service, viewer),
                hosts=cluster_hosts(service, viewer),
                routes=sorted(entries, key=_precedence),
            )
        )
    return hosts


def _oldest_first(routes: list[HTTPRoute]) -> list[HTTPRoute]:
    """Gateway API breaks ties by the oldest route, then by namespace/name."""
    return sorted(
        routes,
        key=lambda r: (r.metadata.creationTimestamp or "", r.metadata.namespace, r.metadata.name),
    )


def _entries(
    route: HTTPRoute, viewer: str, faults: dict[tuple[str, str], FaultSpec]
) -> list[RouteEntry]:
    where = f"{route.metadata.namespace}/{route.metadata.name}"
    entries = []
    for index, rule in enumerate(route.spec.rules):
        backends = [
            WeightedBackend(cluster=_backend(ref, route, viewer), weight=ref.weight)
            for ref in rule.backendRefs
        ]
        resolved = _resolve_filters(rule.filters, route, viewer, faults)
        for match in rule.matches or [RouteMatch()]:
            entries.append(
                RouteEntry(
                    route=where,
                    rule=index,
                    match=match,
                    backends=backends,
                    filters=rule.filters,
                    timeouts=rule.timeouts,
                    retry=rule.retry,
                    **resolved,
                )
            )
    return entries


def _resolve_filters(
    filters: Sequence[RouteFilter],
    route: HTTPRoute,
    viewer: str,
    faults: dict[tuple[str, str], FaultSpec],
) -> dict[str, Any]:
    """RouteEntry fields for what a rule's filters point at: its Fault and mirror cluster."""
    out: dict[str, Any] = {}
    for f in filters:
        if f.extensionRef is not None:
            key = (route.metadata.namespace, f.extensionRef.name)
            if key in faults:
                out["fault"] = faults[key]
            else:
                out["missing_fault"] = f"{key[0]}/{key[1]}"
        if f.requestMirror is not None:
            ref = f.requestMirror.backendRef
            service = (ref.name, ref.namespace or route.metadata.namespace)
            out["mirror_cluster"] = cluster_name(service, viewer)
    return out


def _backend(ref: BackendRef, route: HTTPRoute, viewer: str) -> str:
    name = cluster_name((ref.name, ref.namespace or route.metadata.namespace), viewer)
    return name if ref.subset is None else subset_cluster(name, ref.subset)


def _precedence(entry: RouteEntry) -> tuple[int, int, int, int, int]:
    """Sort key, most specific first: an Exact path, then the longest prefix, then a regular
    expression (Gateway API leaves its place to the implementation); then a method match; then
    more header matches; then more query matches. ``sorted`` is stable, so ties keep route age."""
    match = entry.match
    kind = {"Exact": 0, "PathPrefix": 1, "RegularExpression": 2}[match.path.type]
    return (
        kind,
        -len(match.path.value),
        0 if match.method is not None else 1,
        -len(match.headers),
        -len(match.queryParams),
    )
