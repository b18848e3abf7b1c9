"""The demo's resources are valid mesh resources, and each scenario's Fault reaches its service."""

from __future__ import annotations

import pytest

from controlplane.api.resources import Fault, HTTPRoute, decode_resource
from controlplane.demo.scenarios import BASE, SCENARIOS
from controlplane.demo.shop import EDGES, SERVICES


@pytest.mark.parametrize("resource", BASE, ids=lambda r: r["kind"])
def test_the_base_resources_decode(resource: dict[str, object]) -> None:
    decode_resource(resource)


@pytest.mark.parametrize(("name", "service"), [("slow-inventory", "inventory"),
                                               ("failing-payments", "payments")])  # fmt: skip
def test_a_scenario_routes_every_call_of_its_service_through_its_fault(
    name: str, service: str
) -> None:
    decoded = [decode_resource(r) for r in SCENARIOS[name][1]]
    faults = [r for r in decoded if isinstance(r, Fault)]
    routes = [r for r in decoded if isinstance(r, HTTPRoute)]
    assert len(faults) == 1 and len(routes) == 1
    assert [p.name for p in routes[0].spec.parentRefs] == [service]
    (rule,) = routes[0].spec.rules
    assert [f.extensionRef.name for f in rule.filters if f.extensionRef] == [
        faults[0].metadata.name
    ]


def test_the_shop_has_five_services_behind_its_frontend() -> None:
    assert len(SERVICES) >= 6 and SERVICES[0] == "frontend"
    reached = {"frontend"}
    for caller, callee in EDGES:  # in call order: every callee is reached from the frontend
        assert caller in reached
        reached.add(callee)
    assert reached == set(SERVICES)
