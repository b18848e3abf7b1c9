"""HTTPRoute filters end to end through sidecars configured by the control plane: header
modifiers both ways, URL rewrites, a Fault's abort and delay, and request mirroring."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sidecar.routing import VirtualHost
from sidecar.server import Sidecar
from tests.integration.bookinfo import (
    Bookinfo,
    bookinfo_mesh,  # noqa: F401 (the mesh fixture)
    endpoint_ports,
    wait_until,
)
from tests.integration.bookinfo import outbound_get as raw
from tests.integration.mesh import bound


def route(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "reviews-filters"},
        "spec": {"parentRefs": [{"name": "reviews"}], "rules": rules},
    }


def rule(prefix: str, *filters: dict[str, Any], backend: str = "reviews") -> dict[str, Any]:
    return {
        "matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
        "filters": list(filters),
        "backendRefs": [{"name": backend, "port": 9080}],
    }


EXTENSION = {"group": "glassmesh.io", "kind": "Fault"}
FAULT = {
    "apiVersion": "glassmesh.io/v1alpha1",
    "kind": "Fault",
    "metadata": {"name": "teapot"},
    "spec": {"abort": {"httpStatus": 418, "percentage": 100}},
}
DELAY = {
    "apiVersion": "glassmesh.io/v1alpha1",
    "kind": "Fault",
    "metadata": {"name": "slow"},
    "spec": {"delay": {"fixedDelay": "50ms", "percentage": 100}},
}
RULES = [
    rule(
        "/echo/headers",
        {
            "type": "RequestHeaderModifier",
            "requestHeaderModifier": {
                "set": [{"name": "X-Env", "value": "canary"}],
                "add": [{"name": "X-Added", "value": "1"}],
                "remove": ["X-Secret"],
            },
        },
        {
            "type": "ResponseHeaderModifier",
            "responseHeaderModifier": {
                "set": [{"name": "X-Served-By", "value": "mesh"}],
                "remove": ["Server"],
            },
        },
    ),
    rule(
        "/echo/old",
        {
            "type": "URLRewrite",
            "urlRewrite": {
                "hostname": "reviews.internal",
                "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/echo/new"},
            },
        },
    ),
    rule("/echo/teapot", {"type": "ExtensionRef", "extensionRef": EXTENSION | {"name": "teapot"}}),
    rule("/echo/slow", {"type": "ExtensionRef", "extensionRef": EXTENSION | {"name": "slow"}}),
    rule("/echo/missing", {"type": "ExtensionRef", "extensionRef": EXTENSION | {"name": "nope"}}),
    rule(
        "/echo/mirrored",
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": {"name": "ratings", "port": 9080}},
        },
    ),
]


async def filtered(mesh: Bookinfo) -> tuple[Sidecar, Sidecar]:
    await mesh.start_control()
    await mesh.start("reviews")
    ratings = await mesh.start("ratings")
    page = await mesh.start("productpage")
    await wait_until(lambda: bool(endpoint_ports(page, "ratings")), "the ratings endpoint")
    await mesh.apply([FAULT, DELAY, route(RULES)])
    hosts = page.tables
    await wait_until(lambda: isinstance(hosts.table.hosts[b"reviews"], VirtualHost), "the route")
    return page, ratings


async def test_header_modifiers_change_what_the_app_gets_and_what_the_client_gets(
    mesh: Bookinfo,
) -> None:
    page, _ = await filtered(mesh)
    response = await raw(page, b"/echo/headers", b"X-Env: prod\r\nX-Secret: s3\r\n")
    assert response.status == 200
    seen = {k.lower(): v for k, v in json.loads(response.body)["headers"].items()}
    assert seen["x-env"] == "canary" and seen["x-added"] == "1" and "x-secret" not in seen
    assert response.header(b"x-served-by") == b"mesh"
    assert response.header(b"server") is None


async def test_a_url_rewrite_changes_the_path_and_host_the_app_sees(mesh: Bookinfo) -> None:
    page, _ = await filtered(mesh)
    body = json.loads((await raw(page, b"/echo/old/item?x=1")).body)
    assert body["path"] == "/echo/new/item?x=1"
    assert body["host"] == "reviews.internal"


async def test_a_fault_aborts_or_delays_and_a_missing_one_is_a_500(mesh: Bookinfo) -> None:
    page, _ = await filtered(mesh)
    aborted = await raw(page, b"/echo/teapot")
    assert (aborted.status, aborted.flags) == (418, b"FI")
    delayed = await raw(page, b"/echo/slow")
    assert delayed.status == 200
    outbound = page.listener_contexts()[0].stats
    assert outbound.flags["DI"] == 1
    assert (await raw(page, b"/echo/missing")).status == 500


async def test_an_aborted_request_is_counted_against_the_route_destination(
    mesh: Bookinfo,
) -> None:
    page, _ = await filtered(mesh)
    assert (await raw(page, b"/echo/teapot")).status == 418
    admin = page.bound_addresses()["admin"]
    aborted: list[str] = []
    for _ in range(50):  # the exporter thread records metrics every flush interval (1 s)
        async with mesh.session.get(f"http://{admin}/stats/prometheus") as response:
            text = await response.text()
        aborted = [
            line
            for line in text.splitlines()
            if line.startswith("istio_requests_total{") and 'response_flags="FI"' in line
        ]
        if aborted:
            break
        await asyncio.sleep(0.1)
    assert len(aborted) == 1, text
    assert 'destination_service="reviews.default.svc.cluster.local"' in aborted[0]
    assert 'response_code="418"' in aborted[0] and 'reporter="source"' in aborted[0]


async def test_a_mirrored_request_reaches_the_mirror_and_its_answer_is_dropped(
    mesh: Bookinfo,
) -> None:
    page, ratings = await filtered(mesh)
    inbound = ratings.listener_contexts()[1].stats
    before = inbound.rq_total
    response = await raw(page, b"/echo/mirrored")
    assert response.status == 200
    assert json.loads(response.body)["service"] == "reviews"  # the answer is the route's own
    await wait_until(lambda: inbound.rq_total == before + 1, "the copy at ratings")
    admin = bound(page, "admin")
    async with mesh.session.get(f"http://{admin[0]}:{admin[1]}/stats/prometheus") as resp:
        lines = (await resp.text()).splitlines()
    (sent,) = [line for line in lines if 'mirror_requests_total{outcome="sent"}' in line]
    assert int(sent.rsplit(" ", 1)[1]) >= 1
