"""TrafficPolicy and route timeouts end to end through sidecars configured by the control plane:
ring-hash affinity, circuit breakers and a route's request timeout."""

from __future__ import annotations

import asyncio
import collections
import json
from typing import Any

from sidecar.routing import VirtualHost
from sidecar.server import Sidecar
from sidecar.transport.pool import Cluster
from tests.integration.bookinfo import (
    Bookinfo,
    bookinfo_mesh,  # noqa: F401 (the mesh fixture)
    endpoint_ports,
    wait_until,
)
from tests.integration.bookinfo import outbound_get as get


def traffic_policy(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "glassmesh.io/v1alpha1",
        "kind": "TrafficPolicy",
        "metadata": {"name": "reviews"},
        "spec": {"host": "reviews", "trafficPolicy": settings},
    }


def reviews(page: Sidecar) -> Cluster:
    """productpage's reviews cluster (a new object once its policy changes)."""
    return next(c for c in page.tables.clusters() if c.name == "reviews")


async def reviews_and_page(mesh: Bookinfo, versions: tuple[str, ...]) -> Sidecar:
    await mesh.start_control()
    for version in versions:
        await mesh.start("reviews", version)
    page = await mesh.start("productpage")
    count = len(versions)
    await wait_until(lambda: len(endpoint_ports(page, "reviews")) == count, "the endpoints")
    return page


async def test_ring_hash_keeps_each_user_on_one_endpoint(mesh: Bookinfo) -> None:
    page = await reviews_and_page(mesh, ("v1", "v2", "v3"))
    await mesh.apply(
        traffic_policy({"loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}})
    )
    await wait_until(
        lambda: reviews(page).settings.load_balancer.policy == "ring_hash", "ring hash"
    )
    owners: dict[str, set[str]] = collections.defaultdict(set)
    for user in (f"user-{i}" for i in range(12)):
        for _ in range(4):
            response = await get(page, b"/echo/x", b"x-user: %s\r\n" % user.encode())
            owners[user].add(json.loads(response.body)["version"])
    assert all(len(seen) == 1 for seen in owners.values()), owners  # sticky
    assert len({v for seen in owners.values() for v in seen}) >= 2  # and spread


async def test_past_the_connection_and_pending_limits_a_request_gets_503_uo(
    mesh: Bookinfo,
) -> None:
    page = await reviews_and_page(mesh, ("v1",))
    pool = {"tcp": {"maxConnections": 1}, "http": {"http1MaxPendingRequests": 1}}
    await mesh.apply(traffic_policy({"connectionPool": pool}))
    await wait_until(lambda: reviews(page).settings.circuit_breakers.max_connections == 1, "limits")
    cluster = reviews(page)
    slow = [asyncio.create_task(get(page, b"/echo/slow?delay_ms=600")) for _ in range(2)]
    await wait_until(lambda: cluster.active_requests() == 2, "one in flight, one waiting")
    overflow = await get(page, b"/echo/now")
    assert (overflow.status, overflow.flags) == (503, b"UO")
    assert [r.status for r in await asyncio.gather(*slow)] == [200, 200]  # the waiting one too


async def test_a_route_timeout_answers_504(mesh: Bookinfo) -> None:
    page = await reviews_and_page(mesh, ("v1",))
    await mesh.apply(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "reviews-timeout"},
            "spec": {
                "parentRefs": [{"name": "reviews"}],
                "rules": [
                    {
                        "backendRefs": [{"name": "reviews", "port": 9080}],
                        "timeouts": {"request": "300ms"},
                    }
                ],
            },
        }
    )
    hosts = page.tables
    await wait_until(lambda: isinstance(hosts.table.hosts[b"reviews"], VirtualHost), "the route")
    slow = await get(page, b"/echo/x?delay_ms=3000")
    assert (slow.status, slow.flags) == (504, b"UT")
    assert (await get(page, b"/echo/x?delay_ms=10")).status == 200
