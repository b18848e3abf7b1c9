"""The outbound route table built from snapshots: matches, weights, atomic apply and refusal."""

from __future__ import annotations

import collections
from typing import Any

import msgspec
import pytest

from controlplane.api.routes import RouteEntry, VirtualHost
from controlplane.api.sidecar import ClusterConfig, EndpointConfig, LoadBalancerConfig
from controlplane.api.snapshot import Snapshot
from sidecar.http1.codec import DecoderLimits
from sidecar.http1.head import RequestHead
from sidecar.routing import VirtualHost as CompiledHost
from sidecar.tables import SnapshotRejected, Tables
from sidecar.transport.pool import Cluster, ClusterSettings, Endpoint

ID = "spiffe://cluster.local/ns/default/sa/reviews"


def make_cluster(cfg: ClusterConfig) -> Cluster:
    settings = ClusterSettings(
        name=cfg.name,
        ssl=None,
        expected_ids=cfg.accepted_identities(),
        connect_timeout_s=1.0,
        max_idle=4,
        limits=DecoderLimits(),
        load_balancer=cfg.load_balancer,
    )
    return Cluster(settings, [Endpoint(e.address, e.port) for e in cfg.endpoints])


def cluster(name: str, *ports: int, identity: str = ID) -> ClusterConfig:
    endpoints = [EndpointConfig(address="127.0.0.1", port=p) for p in ports]
    hosts = [f"{name}.default"] if "|" not in name else []
    return ClusterConfig(name=name, hosts=hosts, identity=identity, endpoints=endpoints)


def entry(
    match: dict[str, Any] | None = None, *backends: tuple[str, int], **extra: Any
) -> RouteEntry:
    doc = {
        "route": "default/r",
        "rule": 0,
        "match": match or {},
        "backends": [{"cluster": c, "weight": w} for c, w in backends or [("reviews", 1)]],
        **extra,
    }
    return msgspec.convert(doc, RouteEntry)


PREFIX_REWRITE = {
    "type": "URLRewrite",
    "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/b"}},
}


def vhost(*entries: RouteEntry) -> VirtualHost:
    return VirtualHost(name="reviews", hosts=["reviews", "reviews.default"], routes=list(entries))


def head(target: bytes = b"/", method: bytes = b"GET", **fields: bytes) -> RequestHead:
    names = [n.replace("_", "-").encode() for n in fields]
    return RequestHead(method, target, True, names, list(fields.values()))


def lookup(tables: Tables, host: bytes, request: RequestHead) -> str | None:
    """The cluster name a request is routed to; None for no route."""
    target = tables.table.hosts.get(host)
    if isinstance(target, CompiledHost):
        found = target.find(request, request.target)
        picked = found.pick() if found else None
        return picked.name if picked else None
    return target.name if target else None


def snapshot(*hosts: VirtualHost, clusters: list[ClusterConfig] | None = None) -> Snapshot:
    base = [cluster("reviews", 1, 2), cluster("reviews|v1", 1), cluster("reviews|v2", 2)]
    return Snapshot(
        version=1, clusters=base if clusters is None else clusters, virtual_hosts=list(hosts)
    )


def applied(*hosts: VirtualHost, clusters: list[ClusterConfig] | None = None) -> Tables:
    tables = Tables([], make_cluster)
    tables.prepare(snapshot(*hosts, clusters=clusters)).commit()
    return tables


def test_a_host_without_routes_goes_to_its_cluster_by_any_of_its_names() -> None:
    tables = applied()
    for host in (b"reviews", b"reviews.default"):
        assert lookup(tables, host, head()) == "reviews"
    assert lookup(tables, b"reviews|v1", head()) == "reviews|v1"  # a cluster's name is a host
    assert lookup(tables, b"ratings", head()) is None


def test_weights_split_requests_in_proportion() -> None:
    tables = applied(vhost(entry(None, ("reviews|v1", 90), ("reviews|v2", 10))))
    picks = collections.Counter(lookup(tables, b"reviews", head()) for _ in range(10_000))
    assert set(picks) == {"reviews|v1", "reviews|v2"}
    assert 800 <= picks["reviews|v2"] <= 1200, picks  # 1000 expected, sd 30


def test_a_zero_weight_backend_gets_nothing_and_a_missing_cluster_gets_none() -> None:
    tables = applied(vhost(entry(None, ("reviews|v1", 1), ("reviews|v2", 0))))
    assert {lookup(tables, b"reviews", head()) for _ in range(200)} == {"reviews|v1"}
    tables = applied(vhost(entry(None, ("ratings", 1))))  # not registered (yet)
    assert lookup(tables, b"reviews", head()) is None


@pytest.mark.parametrize(
    ("match", "matching", "other"),
    [
        (
            {"path": {"type": "PathPrefix", "value": "/api"}},
            [b"/api", b"/api/x", b"/api?q"],
            [b"/apix", b"/"],
        ),
        ({"path": {"type": "PathPrefix", "value": "/api/"}}, [b"/api", b"/api/x"], [b"/apix"]),
        (
            {"path": {"type": "Exact", "value": "/api"}},
            [b"/api", b"/api?x=1"],
            [b"/api/", b"/api/x"],
        ),
        (
            {"path": {"type": "RegularExpression", "value": "/r/[0-9]+"}},
            [b"/r/12"],
            [b"/r/1x", b"/r/"],
        ),
        (
            {"queryParams": [{"name": "v", "value": "a b"}]},
            [b"/?v=a+b", b"/?x=1&v=a%20b"],
            [b"/?v=ab", b"/"],
        ),
        (
            {"queryParams": [{"name": "v", "value": "[0-9]+", "type": "RegularExpression"}]},
            [b"/?v=42"],
            [b"/?v=4a"],
        ),
    ],
)
def test_path_and_query_matches(
    match: dict[str, Any], matching: list[bytes], other: list[bytes]
) -> None:
    tables = applied(vhost(entry(match, ("reviews|v2", 1))))
    for target in matching:
        assert lookup(tables, b"reviews", head(target)) == "reviews|v2", target
    for target in other:
        assert lookup(tables, b"reviews", head(target)) is None, target


def test_header_and_method_matches() -> None:
    jason = {"headers": [{"name": "End-User", "value": "jason"}], "method": "GET"}
    tables = applied(vhost(entry(jason, ("reviews|v2", 1)), entry(None, ("reviews|v1", 1))))
    assert lookup(tables, b"reviews", head(end_user=b"jason")) == "reviews|v2"
    assert lookup(tables, b"reviews", head(method=b"POST", end_user=b"jason")) == "reviews|v1"
    assert lookup(tables, b"reviews", head(end_user=b"Jason")) == "reviews|v1"
    assert lookup(tables, b"reviews", head()) == "reviews|v1"


def test_a_snapshot_that_cannot_be_applied_changes_nothing() -> None:
    tables = applied(vhost(entry(None, ("reviews|v1", 1))))
    before, clusters = tables.table, tables.clusters()
    bad = [
        vhost(entry({"headers": [{"name": "end-user", "value": "j\u00e4son"}]})),
        vhost(entry({"path": {"type": "Exact", "value": "/a"}}, filters=[PREFIX_REWRITE])),
    ]
    for host in bad:
        with pytest.raises(SnapshotRejected, match="route default/r rule 0"):
            tables.prepare(snapshot(host))
    with pytest.raises(SnapshotRejected, match="names two clusters"):
        dup = ClusterConfig(name="other", hosts=["reviews.default"], identity=ID)
        tables.prepare(snapshot(clusters=[cluster("reviews", 1), dup]))
    assert tables.table is before and tables.clusters() == clusters


def test_clusters_that_stay_keep_their_pools_and_clusters_that_go_are_retired() -> None:
    tables = applied()
    (reviews,) = [c for c in tables.clusters() if c.name == "reviews"]
    kept = reviews.endpoints[0]
    v2 = next(c for c in tables.clusters() if c.name == "reviews|v2")
    tables.prepare(snapshot(clusters=[cluster("reviews", 1, 3)])).commit()
    assert [c.name for c in tables.clusters()] == ["reviews"]
    assert tables.clusters()[0] is reviews and reviews.endpoints[0] is kept
    assert [e.port for e in reviews.endpoints] == [1, 3]
    assert all(e.retired for e in v2.endpoints)
    moved = cluster("reviews", 1, identity="spiffe://cluster.local/ns/default/sa/impostor")
    tables.prepare(snapshot(clusters=[moved])).commit()
    assert tables.clusters()[0] is not reviews  # another identity: new connections only


def test_static_clusters_win_over_pushed_ones() -> None:
    static = ClusterConfig(
        name="reviews",
        hosts=["reviews.default"],
        tls="plaintext",
        endpoints=[EndpointConfig(address="127.0.0.1", port=9)],
    )
    tables = Tables([static], make_cluster)
    tables.prepare(snapshot()).commit()
    (reviews,) = [c for c in tables.clusters() if c.name == "reviews"]
    assert [e.port for e in reviews.endpoints] == [9]


def test_a_rules_retry_and_timeouts_reach_its_entry() -> None:
    retry = {"attempts": 4, "codes": [502, 503], "backoff": "100ms"}
    timeouts = {"request": "2s", "backendRequest": "500ms"}
    tables = applied(vhost(entry(None, retry=retry, timeouts=timeouts)))
    target = tables.table.hosts[b"reviews"]
    assert isinstance(target, CompiledHost)
    (compiled,) = target.entries
    assert (compiled.retry.attempts, compiled.retry.codes) == (4, frozenset({502, 503}))
    assert compiled.retry.backoff_s == 0.1
    assert (compiled.timeout_s, compiled.try_timeout_s) == (2.0, 0.5)
    plain_host = applied(vhost(entry(None))).table.hosts[b"reviews"]
    assert isinstance(plain_host, CompiledHost)
    (plain,) = plain_host.entries
    assert (plain.retry.attempts, plain.retry.codes, plain.timeout_s) == (2, frozenset({503}), 0.0)


def test_a_changed_balancer_or_limit_gives_a_new_cluster_and_endpoints_alone_do_not() -> None:
    tables = applied(clusters=[cluster("reviews", 1)])
    first = tables.clusters()[0]
    tables.prepare(snapshot(clusters=[cluster("reviews", 1, 2)])).commit()
    assert tables.clusters()[0] is first
    ring = msgspec.structs.replace(
        cluster("reviews", 1, 2),
        load_balancer=msgspec.convert(
            {"policy": "ring_hash", "hash_header": "x-user"}, LoadBalancerConfig
        ),
    )
    tables.prepare(snapshot(clusters=[ring])).commit()
    assert tables.clusters()[0] is not first
    assert tables.clusters()[0].settings.load_balancer.policy == "ring_hash"
