"""CRs into the store: the resources API's checks, the last good version kept, re-lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controlplane.kubernetes.resources import Rejection, ResourceSync, stripped
from controlplane.store import Store


def fault(percentage: float, name: str = "slow") -> dict[str, Any]:
    return {
        "apiVersion": "glassmesh.io/v1alpha1",
        "kind": "Fault",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": "0f1e",
            "resourceVersion": "42",
            "generation": 3,
            "managedFields": [{"manager": "kubectl"}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "a"},
        },
        "spec": {"delay": {"fixedDelay": "1s", "percentage": percentage}},
        "status": {"conditions": []},
    }


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path)


def test_the_api_servers_bookkeeping_is_dropped() -> None:
    doc = stripped(fault(10))
    assert doc["metadata"] == {"name": "slow", "namespace": "shop", "annotations": {"team": "a"}}
    assert "status" not in doc


def test_a_bad_version_is_rejected_once_and_the_good_one_stays(store: Store) -> None:
    reported: list[Rejection] = []
    sync = ResourceSync("Fault", store, lambda obj, why: reported.append(why))
    sync.apply("ADDED", fault(10))
    sync.apply("MODIFIED", fault(500))
    sync.replace([fault(500)])  # a re-list of the same bad object is not a new rejection
    (stored,) = store.list("Fault")
    assert stored.spec.delay is not None and stored.spec.delay.percentage == 10  # type: ignore[attr-defined]
    (why,) = reported
    assert why.path == "spec.delay.percentage" and sync.rejections == 1
    assert list(sync.rejected) == [("shop", "slow")]
    sync.apply("MODIFIED", fault(20))
    assert sync.rejected == {}


def test_a_list_deletes_what_the_api_server_no_longer_has(store: Store) -> None:
    sync = ResourceSync("Fault", store, lambda obj, why: None)
    sync.replace([fault(10, "a"), fault(10, "b")])
    revision = store.revision
    sync.replace([fault(10, "a")])
    assert [f.metadata.name for f in store.list("Fault")] == ["a"]
    sync.replace([fault(10, "a")])  # unchanged: no write, so no push
    assert store.revision == revision + 1


def test_an_object_of_another_kind_is_rejected(store: Store) -> None:
    reported: list[Rejection] = []
    sync = ResourceSync("TrafficPolicy", store, lambda obj, why: reported.append(why))
    sync.apply("ADDED", fault(10))
    assert store.list("TrafficPolicy") == [] and reported[0].path == "kind"


def route(subset: str) -> dict[str, Any]:
    backend = {"name": "web", "port": 8080, "subset": subset}
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7"},
        "spec": {"parentRefs": [{"name": "web"}], "rules": [{"backendRefs": [backend]}]},
    }


def test_a_route_to_a_subset_no_policy_defines_is_rejected(store: Store) -> None:
    reported: list[Rejection] = []
    policies = ResourceSync("TrafficPolicy", store, lambda obj, why: reported.append(why))
    routes = ResourceSync("HTTPRoute", store, lambda obj, why: reported.append(why))
    routes.apply("ADDED", route("v2"))
    assert store.list("HTTPRoute") == []
    assert reported[0].path == "spec.rules[0].backendRefs[0]"
    policy = {
        "apiVersion": "glassmesh.io/v1alpha1",
        "kind": "TrafficPolicy",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"host": "web", "subsets": [{"name": "v2", "labels": {"version": "v2"}}]},
    }
    policies.on_stored = routes.retry  # as KubernetesMode wires them
    policies.apply("ADDED", policy)  # the route is checked again, and now it passes
    assert [r.metadata.name for r in store.list("HTTPRoute")] == ["web"]
    assert routes.rejected == {}
