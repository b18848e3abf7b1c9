"""What a sidecar routes by: HTTPRoutes compiled by the control plane into virtual hosts.

The control plane resolves every HTTPRoute whose parent is a Service into one ``VirtualHost`` per
Service, as seen from the namespace of the sidecar it pushes to: the host names that reach the
Service, and its route entries, one per match, already in Gateway API precedence order (the first
entry that matches a request wins). Each entry names the clusters its requests go to, by weight.
A subset backend (``backendRef.subset``) is its own cluster, ``<service cluster>|<subset>``.

A host with no VirtualHost is routed straight to the cluster it names.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from controlplane.api.resources import FaultSpec, Retry, RouteFilter, RouteMatch, Timeouts

Weight = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
SUBSET_SEPARATOR = "|"


class _Routes(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of the compiled routing structs."""


class WeightedBackend(_Routes, frozen=True, kw_only=True):
    """A cluster that gets ``weight`` parts of an entry's requests. ``cluster`` may name no
    cluster the sidecar has (a backend not registered yet): its share is answered 500."""

    cluster: str
    weight: Weight = 1


class RouteEntry(_Routes, frozen=True, kw_only=True):
    """One match of one HTTPRoute rule and where its requests go.

    ``route`` (``namespace/name``) and ``rule`` (its index) say where the entry came from, for
    NACK reasons and telemetry. An entry whose backends all weigh 0, or that has none, is answered
    500, as Gateway API asks."""

    route: str
    rule: int
    match: RouteMatch = RouteMatch()
    backends: list[WeightedBackend] = []
    filters: list[RouteFilter] = []
    timeouts: Timeouts | None = None
    retry: Retry | None = None
    # Resolved by the control plane: the Fault an ExtensionRef filter names (None when the rule
    # has none, or it names no Fault: then ``missing_fault`` says which), and the cluster a
    # RequestMirror filter copies requests to.
    fault: FaultSpec | None = None
    missing_fault: str | None = None
    mirror_cluster: str | None = None


class VirtualHost(_Routes, frozen=True, kw_only=True):
    """The routes of one Service: the hosts that name it and its entries, in precedence order."""

    name: str
    hosts: list[str] = []
    routes: list[RouteEntry] = []


def subset_cluster(cluster: str, subset: str) -> str:
    """The name of the cluster of ``subset``'s endpoints of ``cluster``."""
    return f"{cluster}{SUBSET_SEPARATOR}{subset}"


__all__ = [
    "SUBSET_SEPARATOR",
    "RouteEntry",
    "VirtualHost",
    "WeightedBackend",
    "subset_cluster",
]
