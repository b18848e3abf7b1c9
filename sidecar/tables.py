"""Builds the outbound route table from the static config and the control plane's snapshots.

Applying a snapshot has two steps, so a bad one changes nothing: ``prepare`` checks everything
and builds the new table without touching what serves traffic (it raises SnapshotRejected with
the reason, which the sidecar sends back as a NACK); ``Plan.commit`` then updates the endpoints
of clusters that stay, retires the clusters that went, and returns the table to swap in.

Static clusters (from the sidecar's file) stay whatever the control plane says, and win: a pushed
cluster with a static cluster's name is ignored.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec

from controlplane.api.resources import Retry
from controlplane.api.resources.base import parse_duration
from controlplane.api.routes import RouteEntry, VirtualHost
from controlplane.api.sidecar import ClusterConfig
from controlplane.api.snapshot import Snapshot
from sidecar import routing
from sidecar.filters import Filters
from sidecar.retry import DEFAULT, RetryPolicy
from sidecar.transport.pool import Cluster

log = logging.getLogger("glassmesh.sidecar.tables")

ClusterFactory = Callable[[ClusterConfig], Cluster]
_PATH_KINDS = {
    "Exact": routing.EXACT,
    "PathPrefix": routing.PREFIX,
    "RegularExpression": routing.REGEX,
}


class SnapshotRejected(Exception):
    """A snapshot this sidecar cannot apply; the message says why (it goes back as a NACK)."""


@dataclass
class Plan:
    """A checked snapshot, ready to take effect."""

    table: routing.RouteTable
    updates: list[tuple[Cluster, ClusterConfig]]
    retired: list[Cluster]
    dynamic: dict[str, tuple[ClusterConfig, Cluster]]
    owner: Tables

    def commit(self) -> routing.RouteTable:
        """Updates kept clusters' endpoints, retires removed ones, returns the new table."""
        for cluster, cfg in self.updates:
            cluster.set_endpoints([(e.address, e.port) for e in cfg.endpoints])
        for cluster in self.retired:
            cluster.retire()
        self.owner.dynamic = self.dynamic
        self.owner.table = self.table
        return self.table


class Tables:
    """The sidecar's outbound clusters and the route table over them."""

    def __init__(self, static: Sequence[ClusterConfig], make_cluster: ClusterFactory) -> None:
        self._make = make_cluster
        self.static = {cfg.name: (cfg, make_cluster(cfg)) for cfg in static}
        self.dynamic: dict[str, tuple[ClusterConfig, Cluster]] = {}
        self.table = self._table({}, [])
        self._shadowed: set[str] = set()  # pushed clusters a static one hides (logged once)

    def clusters(self) -> list[Cluster]:
        """Every outbound cluster, static ones first."""
        return [c for _, c in self.static.values()] + [c for _, c in self.dynamic.values()]

    def prepare(self, snapshot: Snapshot) -> Plan:
        """Checks ``snapshot`` and builds what it asks for. Raises SnapshotRejected; changes
        nothing either way."""
        for host in snapshot.virtual_hosts:
            for entry in host.routes:
                _check_supported(entry)
        dynamic: dict[str, tuple[ClusterConfig, Cluster]] = {}
        updates = []
        for cfg in snapshot.clusters:
            if cfg.name in self.static:
                if cfg.name not in self._shadowed:
                    self._shadowed.add(cfg.name)
                    log.warning("pushed cluster %s ignored: a static one has its name", cfg.name)
                continue
            if cfg.name in dynamic:
                raise SnapshotRejected(f"clusters: {cfg.name!r} appears twice")
            old = self.dynamic.get(cfg.name)
            if old is not None and _same_but_endpoints(old[0], cfg):
                dynamic[cfg.name] = (cfg, old[1])
                updates.append((old[1], cfg))
            else:
                dynamic[cfg.name] = (cfg, self._make(cfg))
        table = self._table(dynamic, snapshot.virtual_hosts)
        kept = {id(c) for _, c in dynamic.values()}
        retired = [c for _, c in self.dynamic.values() if id(c) not in kept]
        return Plan(table, updates, retired, dynamic, self)

    def _table(
        self, dynamic: dict[str, tuple[ClusterConfig, Cluster]], hosts: Sequence[VirtualHost]
    ) -> routing.RouteTable:
        by_name = {name: c for name, (_, c) in {**dynamic, **self.static}.items()}
        table: dict[bytes, Cluster | routing.VirtualHost] = {}
        for group in (self.static, dynamic):
            for cfg, cluster in group.values():
                for host in (cfg.name, *cfg.hosts):
                    key = _key(host)
                    if key in table and group is dynamic:
                        raise SnapshotRejected(f"clusters: host {host!r} names two clusters")
                    table.setdefault(key, cluster)
        claimed: set[bytes] = set()
        for vhost in hosts:
            compiled = routing.VirtualHost(vhost.name, [_entry(e, by_name) for e in vhost.routes])
            for host in vhost.hosts:
                key = _key(host)
                if key in claimed:
                    raise SnapshotRejected(f"virtual_hosts: host {host!r} has two virtual hosts")
                claimed.add(key)
                table[key] = compiled
        return routing.RouteTable(table, by_name)


def _key(host: str) -> bytes:
    """The route-table key of a host name: lower-case ASCII (what ``host_key`` makes of a
    request's authority)."""
    try:
        return host.lower().encode("ascii")
    except UnicodeEncodeError:
        raise SnapshotRejected(f"host {host[:80]!r} is not ASCII") from None


def _same_but_endpoints(old: ClusterConfig, new: ClusterConfig) -> bool:
    """Whether ``new`` differs from ``old`` in its endpoints at most: then the cluster stays, with
    its pools. Another identity, TLS mode, balancer, breaker or outlier setting makes a new one."""
    return msgspec.structs.replace(old, endpoints=[]) == msgspec.structs.replace(new, endpoints=[])


def _check_supported(entry: RouteEntry) -> None:
    """Refuses filter combinations this sidecar cannot honour, rather than route as if it did."""
    rewrites = [f.urlRewrite for f in entry.filters if f.urlRewrite is not None]
    for rewrite in rewrites:
        prefix = rewrite.path is not None and rewrite.path.type == "ReplacePrefixMatch"
        if prefix and entry.match.path.type != "PathPrefix":
            where = f"route {entry.route} rule {entry.rule}"
            raise SnapshotRejected(f"{where}: ReplacePrefixMatch needs a PathPrefix match")


def _entry(entry: RouteEntry, clusters: dict[str, Cluster]) -> routing.Entry:
    match = entry.match
    where = f"route {entry.route} rule {entry.rule}"
    try:
        headers = [_test(h.name.lower(), h.value, h.type) for h in match.headers]
        query = [_test(q.name, q.value, q.type) for q in match.queryParams]
        return routing.Entry(
            where,
            path_kind=_PATH_KINDS[match.path.type],
            path=match.path.value.encode(),
            method=match.method.encode() if match.method else None,
            headers=headers,
            query=query,
            # A Fault the rule names but nobody defined: the rule answers 500 (Gateway API).
            backends=[]
            if entry.missing_fault
            else [(clusters.get(b.cluster), b.weight) for b in entry.backends],
            filters=_filters(entry, clusters),
            retry=_retry(entry.retry),
            timeout_s=_seconds(entry.timeouts.request if entry.timeouts else None),
            try_timeout_s=_seconds(entry.timeouts.backendRequest if entry.timeouts else None),
        )
    except re.error as exc:
        raise SnapshotRejected(f"{where}: bad regular expression: {exc}") from None
    except UnicodeEncodeError:
        raise SnapshotRejected(f"{where}: a match or header value is not ASCII") from None


def _test(name: str, value: str, kind: str) -> routing.ValueTest:
    return routing.ValueTest(
        name.encode("ascii"), value.encode("ascii"), kind == "RegularExpression"
    )


def _retry(config: Retry | None) -> RetryPolicy:
    """A rule's retry (GEP-1731); without one, Istio's default. Unset fields: 2 attempts, on
    503, 25 ms backoff."""
    if config is None:
        return DEFAULT
    attempts = config.attempts if config.attempts is not None else DEFAULT.attempts
    codes = frozenset(config.codes) if config.codes else DEFAULT.codes
    backoff = parse_duration(config.backoff) if config.backoff else DEFAULT.backoff_s
    return RetryPolicy(attempts=attempts, codes=codes, backoff_s=backoff)


def _seconds(duration: str | None) -> float:
    return parse_duration(duration) if duration else 0.0


def _filters(entry: RouteEntry, clusters: dict[str, Cluster]) -> Filters | None:
    if not entry.filters and entry.fault is None:
        return None
    mirror = clusters.get(entry.mirror_cluster) if entry.mirror_cluster else None
    return Filters(entry.filters, entry.fault, mirror)
