"""Which pods become which instances: the join of Services, EndpointSlices and Pods."""

from __future__ import annotations

import math
import random
from typing import Any

from controlplane.kubernetes.endpoints import EndpointIndex
from controlplane.kubernetes.registry import KubernetesRegistry

WEB_ID = "spiffe://cluster.local/ns/shop/sa/web"


def pod(name: str, **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": "shop", "labels": {"app": "web"}}
    meta.update(extra.pop("metadata", {}))
    spec = {"serviceAccountName": "web", "containers": [{"name": "glassmesh-proxy"}]}
    spec.update(extra.pop("spec", {}))
    return {"metadata": meta, "spec": spec}


def endpoint_slice(*endpoints: dict[str, Any], service: str = "web") -> dict[str, Any]:
    labels = {"kubernetes.io/service-name": service}
    return {
        "metadata": {"name": f"{service}-abc", "namespace": "shop", "labels": labels},
        "endpoints": list(endpoints),
    }


def endpoint(name: str, address: str, **conditions: bool) -> dict[str, Any]:
    target = {"kind": "Pod", "name": name, "namespace": "shop"}
    return {"addresses": [address], "conditions": conditions, "targetRef": target}


def index(*pods: dict[str, Any], slices: list[dict[str, Any]]) -> EndpointIndex:
    found = EndpointIndex("cluster.local")
    found.replace("Service", [{"metadata": {"name": "web", "namespace": "shop"}}])
    found.replace("Pod", pods)
    found.replace("EndpointSlice", slices)
    return found


def test_an_endpoint_is_the_pods_sidecar_with_its_identity_and_labels() -> None:
    made = index(pod("web-1"), slices=[endpoint_slice(endpoint("web-1", "10.0.0.1", ready=True))])
    ((key, registration),) = made.instances().items()
    assert key == (WEB_ID, "10.0.0.1", 15006)
    assert (registration.service, registration.namespace) == ("web", "shop")
    assert registration.labels == {"app": "web"} and registration.ready


def test_a_missing_ready_condition_means_ready_and_false_means_not() -> None:
    made = index(
        pod("a"),
        pod("b"),
        slices=[endpoint_slice(endpoint("a", "10.0.0.1"), endpoint("b", "10.0.0.2", ready=False))],
    )
    ready = {r.address: r.ready for r in made.instances().values()}
    assert ready == {"10.0.0.1": True, "10.0.0.2": False}


def test_the_inbound_port_annotation_is_used_when_it_is_a_port() -> None:
    good = pod("a", metadata={"annotations": {"sidecar.glassmesh.io/inbound-port": "16000"}})
    bad = pod("b", metadata={"annotations": {"sidecar.glassmesh.io/inbound-port": "99999"}})
    made = index(
        good, bad, slices=[endpoint_slice(endpoint("a", "10.0.0.1"), endpoint("b", "10.0.0.2"))]
    )
    assert sorted(r.port for r in made.instances().values()) == [15006, 16000]


def test_what_is_not_a_meshed_pod_of_an_existing_service_is_no_instance() -> None:
    plain = pod("plain", spec={"containers": [{"name": "app"}]})  # no sidecar
    leaving = pod("leaving", metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"})
    made = index(
        plain,
        leaving,
        pod("web-1"),
        slices=[
            endpoint_slice(
                endpoint("plain", "10.0.0.1"),
                endpoint("leaving", "10.0.0.2"),
                endpoint("unknown-pod", "10.0.0.3"),
                {"addresses": ["web.example.com"], "targetRef": {"kind": "Pod", "name": "web-1"}},
            ),
            endpoint_slice(endpoint("web-1", "10.0.0.4"), service="no-such-service"),
        ],
    )
    assert made.instances() == {}


def test_a_default_service_account_and_watch_events() -> None:
    made = index(slices=[endpoint_slice(endpoint("web-1", "10.0.0.1"))])
    assert made.instances() == {}
    made.apply("Pod", "ADDED", pod("web-1", spec={"serviceAccountName": None}))
    (key,) = made.instances()
    assert key[0] == "spiffe://cluster.local/ns/shop/sa/default"
    made.apply("Pod", "DELETED", pod("web-1"))
    assert made.instances() == {}


def test_the_registry_follows_the_api_server_not_the_streams() -> None:
    registry = KubernetesRegistry(clock=lambda: 100.0)
    made = index(pod("web-1"), slices=[endpoint_slice(endpoint("web-1", "10.0.0.1"))])
    registry.sync(made.instances())
    (instance,) = registry.instances()
    assert instance.expires_at == math.inf and registry.revision == 1
    registry.sync(made.instances())  # nothing changed: no new revision, so no push
    assert registry.revision == 1
    # A sidecar's stream neither adds, renews, nor changes readiness of an instance.
    _, registration = next(iter(made.instances().items()))
    assert registry.register("spiffe://cluster.local/ns/shop/sa/other", registration)
    assert registry.set_ready(instance.key, False)
    assert [i.ready for i in registry.instances()] == [True]
    assert registry.expire() == []
    registry.sync({})
    assert registry.instances() == [] and registry.revision == 2


def test_remaking_only_the_slices_an_event_touches_gives_what_remaking_all_would() -> None:
    rng, seen = random.Random(7), 0
    live = EndpointIndex("cluster.local")
    for kind in ("Service", "Pod", "EndpointSlice"):
        live.replace(kind, [])
    for _ in range(400):
        kind = rng.choice(["Service", "Pod", "EndpointSlice"])
        event = rng.choice(["ADDED", "MODIFIED", "DELETED"])
        n = rng.randrange(4)
        if kind == "Service":
            obj: dict[str, Any] = {"metadata": {"name": f"s{n}", "namespace": "shop"}}
        elif kind == "Pod":
            obj = pod(f"p{n}", spec={"serviceAccountName": rng.choice(["a", "b"])})
        else:
            members = rng.sample(range(4), rng.randrange(3))
            ready = rng.choice([True, False])
            endpoints = [endpoint(f"p{m}", f"10.0.{n}.{m}", ready=ready) for m in members]
            obj = endpoint_slice(*endpoints, service=f"s{rng.randrange(4)}")
            obj["metadata"]["name"] = f"slice{n}"
        live.apply(kind, event, obj)
        fresh = EndpointIndex("cluster.local")
        for each in ("Service", "Pod", "EndpointSlice"):
            fresh.replace(each, live.objects[each].values())
        made = live.instances()
        assert made == fresh.instances()
        seen += len(made)
    assert seen > 400  # the events did make instances, often
