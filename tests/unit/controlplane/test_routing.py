"""What the control plane compiles for one sidecar: clusters, subset clusters, virtual hosts."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from controlplane import routing
from controlplane.api.resources import HTTPRoute, TrafficPolicy, decode_resource
from controlplane.api.snapshot import Registration
from controlplane.registry import Registry

REVIEWS = "spiffe://cluster.local/ns/default/sa/reviews"
OTHER = "spiffe://cluster.local/ns/default/sa/other"


def registration(
    port: int, version: str = "v1", ready: bool = True, service: str = "reviews"
) -> Registration:
    return Registration(
        service=service, labels={"version": version}, address="127.0.0.1", port=port, ready=ready
    )


@pytest.fixture
def registry() -> Registry:
    return Registry(lambda: 1000.0, lease_s=15.0)


def policy(host: str = "reviews", namespace: str = "default") -> TrafficPolicy:
    doc = {
        "apiVersion": "glassmesh.io/v1alpha1",
        "kind": "TrafficPolicy",
        "metadata": {"name": "reviews", "namespace": namespace},
        "spec": {
            "host": host,
            "subsets": [
                {"name": "v1", "labels": {"version": "v1"}},
                {"name": "v2", "labels": {"version": "v2"}},
            ],
        },
    }
    resource = decode_resource(doc)
    assert isinstance(resource, TrafficPolicy)
    return resource


def route(
    name: str,
    rules: list[dict[str, Any]],
    namespace: str = "default",
    parent_namespace: str | None = None,
) -> HTTPRoute:
    parent = {"namespace": parent_namespace} if parent_namespace else {}
    doc = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"parentRefs": [{"name": "reviews", **parent}], "rules": rules},
    }
    resource = decode_resource(doc)
    assert isinstance(resource, HTTPRoute)
    return resource


def backend(weight: int = 1, subset: str | None = None, name: str = "reviews") -> dict[str, Any]:
    ref: dict[str, Any] = {"name": name, "port": 9080, "weight": weight}
    if subset:
        ref["subset"] = subset
    return ref


def test_clusters_name_services_and_pin_their_identity(registry: Registry) -> None:
    registry.register(REVIEWS, registration(9080))
    registry.register(REVIEWS, registration(9081, ready=False))
    (local,) = routing.clusters(registry, [], "default")
    assert (local.name, local.hosts, local.identity, local.tls) == (
        "reviews",
        ["reviews.default", "reviews.default.svc.cluster.local"],
        REVIEWS,
        "mtls",
    )
    assert [e.port for e in local.endpoints] == [9080]
    (remote,) = routing.clusters(registry, [], "shop")
    assert remote.name == "reviews.default"
    assert remote.hosts == ["reviews.default.svc.cluster.local"]


def test_secure_naming_accepts_every_identity_registered_for_the_service(
    registry: Registry,
) -> None:
    registry.register(REVIEWS, registration(9080))
    registry.register(OTHER, registration(9081))
    registry.register(OTHER, registration(9082, service="other"))
    found = {c.name: c for c in routing.clusters(registry, [], "default")}
    assert found["reviews"].accepted_identities() == {REVIEWS, OTHER}
    assert found["other"].accepted_identities() == {OTHER}


def test_traffic_policy_settings_reach_the_clusters_and_subsets_may_override(
    registry: Registry,
) -> None:
    registry.register(REVIEWS, registration(9080, "v1"))
    doc = msgspec.to_builtins(policy())
    doc["spec"]["trafficPolicy"] = {
        "loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}},
        "connectionPool": {"tcp": {"maxConnections": 7, "connectTimeout": "250ms"}},
        "outlierDetection": {"consecutive5xxErrors": 3, "baseEjectionTime": "1m"},
    }
    doc["spec"]["subsets"][1]["trafficPolicy"] = {"loadBalancer": {"simple": "LEAST_REQUEST"}}
    tp = decode_resource(doc)
    assert isinstance(tp, TrafficPolicy)
    found = {c.name: c for c in routing.clusters(registry, [tp], "default")}
    main = found["reviews"]
    assert (main.load_balancer.policy, main.load_balancer.hash_header) == ("ring_hash", "x-user")
    assert main.circuit_breakers.max_connections == 7 and main.connect_timeout_s == 0.25
    assert main.outlier_detection is not None
    assert (main.outlier_detection.consecutive_5xx, main.outlier_detection.base_ejection_s) == (
        3,
        60.0,
    )
    assert found["reviews|v1"].load_balancer.policy == "ring_hash"  # the policy's
    assert found["reviews|v2"].load_balancer.policy == "least_request"  # its own
    assert found["reviews|v2"].outlier_detection == main.outlier_detection


def test_subset_clusters_hold_the_ready_endpoints_whose_labels_match(registry: Registry) -> None:
    registry.register(REVIEWS, registration(9080, "v1"))
    registry.register(REVIEWS, registration(9081, "v2"))
    registry.register(REVIEWS, registration(9082, "v2", ready=False))
    found = {c.name: c for c in routing.clusters(registry, [policy()], "default")}
    assert sorted(found) == ["reviews", "reviews|v1", "reviews|v2"]
    assert [e.port for e in found["reviews|v1"].endpoints] == [9080]
    assert [e.port for e in found["reviews|v2"].endpoints] == [9081]
    assert found["reviews|v2"].identity == REVIEWS
    assert found["reviews|v2"].hosts == []  # reached only through a route


def test_a_weighted_split_names_the_subset_clusters() -> None:
    split = route("split", [{"backendRefs": [backend(90, "v1"), backend(10, "v2")]}])
    (host,) = routing.virtual_hosts([split], "default")
    assert host.name == "reviews"
    assert host.hosts == ["reviews", "reviews.default", "reviews.default.svc.cluster.local"]
    (entry,) = host.routes
    assert [(b.cluster, b.weight) for b in entry.backends] == [
        ("reviews|v1", 90),
        ("reviews|v2", 10),
    ]
    assert (entry.route, entry.rule, entry.match.path.value) == ("default/split", 0, "/")
    (remote,) = routing.virtual_hosts([split], "shop")
    assert [b.cluster for b in remote.routes[0].backends] == [
        "reviews.default|v1",
        "reviews.default|v2",
    ]


def test_entries_are_in_gateway_api_precedence_order() -> None:
    rules: list[dict[str, Any]] = [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/a"}}], "backendRefs": [backend()]},
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/a/b"}}],
            "backendRefs": [backend()],
        },
        {"matches": [{"path": {"type": "Exact", "value": "/a"}}], "backendRefs": [backend()]},
        {
            "matches": [
                {"path": {"value": "/a"}, "headers": [{"name": "x-user", "value": "jason"}]},
                {"path": {"value": "/a"}, "method": "POST"},
            ],
            "backendRefs": [backend()],
        },
        {"matches": [{"path": {"type": "RegularExpression", "value": "/a.*"}}], "backendRefs": []},
    ]
    (host,) = routing.virtual_hosts([route("r", rules)], "default")
    order = [(e.rule, e.match.path.type, e.match.path.value) for e in host.routes]
    assert order == [
        (2, "Exact", "/a"),
        (1, "PathPrefix", "/a/b"),
        (3, "PathPrefix", "/a"),  # the method match
        (3, "PathPrefix", "/a"),  # one header
        (0, "PathPrefix", "/a"),
        (4, "RegularExpression", "/a.*"),
    ]
    assert host.routes[2].match.method == "POST"


def test_ties_go_to_the_oldest_route() -> None:
    def stamped(name: str, stamp: str) -> HTTPRoute:
        r = route(name, [{"backendRefs": [backend(name=name)]}])
        metadata = msgspec.structs.replace(r.metadata, creationTimestamp=stamp)
        return msgspec.structs.replace(r, metadata=metadata)

    young, old = stamped("aaa", "2026-02-01T00:00:00Z"), stamped("zzz", "2026-01-01T00:00:00Z")
    (host,) = routing.virtual_hosts([young, old], "default")
    assert [e.route for e in host.routes] == ["default/zzz", "default/aaa"]


def test_a_consumer_route_replaces_producer_routes_for_its_namespace_only() -> None:
    producer = route("producer", [{"backendRefs": [backend(subset="v1")]}], namespace="default")
    refs = [{**backend(subset="v2"), "namespace": "default"}]
    consumer = route("consumer", [{"backendRefs": refs}], "shop", parent_namespace="default")
    (shop,) = routing.virtual_hosts([producer, consumer], "shop")
    assert [e.route for e in shop.routes] == ["shop/consumer"]
    (web,) = routing.virtual_hosts([producer, consumer], "web")
    assert [e.route for e in web.routes] == ["default/producer"]
    (own,) = routing.virtual_hosts([producer, consumer], "default")
    assert [e.route for e in own.routes] == ["default/producer"]
