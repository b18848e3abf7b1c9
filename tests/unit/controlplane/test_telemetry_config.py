"""Telemetry resources compile into the rules a namespace's sidecars apply, Istio's scoping."""

from __future__ import annotations

from typing import Any

from controlplane.api.resources import decode_resource
from controlplane.api.resources.base import Resource
from controlplane.telemetry_config import rules


def telemetry(name: str, namespace: str, **spec: Any) -> Resource:
    body = {
        "apiVersion": "glassmesh.io/v1alpha1",
        "kind": "Telemetry",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return decode_resource(body)


def test_mesh_namespace_and_workload_scopes_apply_to_a_namespace_in_that_order() -> None:
    found = rules(
        [
            telemetry("wl", "shop", selector={"matchLabels": {"app": "cart"}},
                      accessLogging=[{"disabled": True}]),
            telemetry("ns", "shop", tracing=[{"randomSamplingPercentage": 50}]),
            telemetry("mesh", "glassmesh-system", tracing=[{"randomSamplingPercentage": 100}]),
            telemetry("other", "elsewhere", tracing=[{"randomSamplingPercentage": 7}]),
        ],
        "shop",
    )  # fmt: skip
    assert [(r.name, r.scope) for r in found] == [
        ("glassmesh-system/mesh", "mesh"),
        ("shop/ns", "namespace"),
        ("shop/wl", "workload"),
    ]
    assert [r.sampling_percent for r in found] == [100.0, 50.0, None]
    assert found[2].access_log == "off" and found[2].match_labels == {"app": "cart"}


def test_access_log_filters_compile_to_modes() -> None:
    errors = telemetry(
        "e", "shop", accessLogging=[{"filter": {"expression": "response.code >= 400"}}]
    )
    whole = telemetry("a", "shop", accessLogging=[{}])
    odd = telemetry("o", "shop", accessLogging=[{"filter": {"expression": "request.size > 9"}}])
    assert [r.access_log for r in rules([errors], "shop")] == ["errors"]
    assert [r.access_log for r in rules([whole], "shop")] == ["all"]
    # An expression the sidecar cannot evaluate is never widened to logging everything.
    assert [r.access_log for r in rules([odd], "shop")] == ["errors"]
