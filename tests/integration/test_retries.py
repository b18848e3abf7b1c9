"""Retries end to end through sidecars configured by the control plane: a route's retry on a
status code, only for idempotent requests that fit the replay buffer, and per-try timeouts."""

from __future__ import annotations

from sidecar.routing import VirtualHost
from sidecar.server import Sidecar
from tests.integration.bookinfo import (
    Bookinfo,
    bookinfo_mesh,  # noqa: F401 (the mesh fixture)
    wait_until,
)
from tests.integration.mesh import bound
from tests.integration.rawhttp import Response, connect

ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "reviews-retries"},
    "spec": {
        "parentRefs": [{"name": "reviews"}],
        "rules": [
            {
                "backendRefs": [{"name": "reviews", "port": 9080}],
                "retry": {"attempts": 2, "codes": [503], "backoff": "10ms"},
                "timeouts": {"backendRequest": "300ms"},
            }
        ],
    },
}


async def send(via: Sidecar, method: bytes, target: bytes, body: bytes = b"") -> Response:
    head = b"%s %s HTTP/1.1\r\nHost: reviews\r\nContent-Length: %d\r\n\r\n" % (
        method,
        target,
        len(body),
    )
    async with connect(bound(via, "outbound")) as client:
        return await client.request(head + body)


async def test_retries_follow_the_route_and_spare_what_must_not_be_sent_twice(
    mesh: Bookinfo,
) -> None:
    reviews, page = await mesh.start_reviews_and_page()
    await mesh.apply(ROUTE)
    hosts = page.tables
    await wait_until(lambda: isinstance(hosts.table.hosts[b"reviews"], VirtualHost), "the route")
    app_side = reviews.listener_contexts()[1].stats  # what reached the reviews sidecar

    async def tries(method: bytes, target: bytes, body: bytes = b"") -> tuple[int, int]:
        before = app_side.rq_total
        response = await send(page, method, target, body)
        return response.status, app_side.rq_total - before

    assert await tries(b"GET", b"/echo/x?status=503") == (503, 3)  # the first try and 2 retries
    assert await tries(b"GET", b"/echo/x?status=500") == (500, 1)  # not a code the route retries
    assert await tries(b"POST", b"/echo/x?status=503", b"{}") == (503, 1)  # not idempotent
    assert await tries(b"PUT", b"/echo/x?status=503", b"x" * 1000) == (503, 3)  # replayed
    assert await tries(b"PUT", b"/echo/x?status=503", b"x" * 100_000) == (503, 1)  # too big
    slow = await send(page, b"GET", b"/echo/x?delay_ms=2000")
    assert (slow.status, slow.flags) == (504, b"UT,URX")  # each try cut at 300 ms, then given up
