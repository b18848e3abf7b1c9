"""Limits on what a client may make the sidecar hold, timeouts, and upstream failures mapped to
status codes and response flags."""

from __future__ import annotations

import asyncio
import contextlib

from controlplane.api.sidecar import TimeoutsConfig
from tests.integration.mesh import Mesh, MeshFactory, closed_port
from tests.integration.rawhttp import RawClient, connect, get


def with_headers(extra: bytes, target: bytes = b"/x") -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: server\r\n%s\r\n" % (target, extra)


async def assert_rejected(mesh: Mesh, request: bytes, status: int) -> None:
    async with connect(mesh.outbound) as client:
        response = await client.request(request)
        assert response.status == status
        assert await client.closed_by_peer()
    assert mesh.app.bytes_received == 0


async def test_100_headers_are_accepted(mesh: Mesh) -> None:
    extra = b"".join(b"X-H%d: v\r\n" % i for i in range(99))  # plus Host: 100 fields
    async with connect(mesh.outbound) as client:
        assert (await client.request(with_headers(extra))).status == 200


async def test_101_headers_is_431(mesh: Mesh) -> None:
    extra = b"".join(b"X-H%d: v\r\n" % i for i in range(100))
    await assert_rejected(mesh, with_headers(extra), 431)


async def test_59_kib_of_headers_is_accepted(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        response = await client.request(with_headers(b"Cookie: " + b"c" * 59 * 1024 + b"\r\n"))
        assert response.status == 200
    (cookie,) = mesh.app.requests[0].values(b"cookie")
    assert len(cookie) == 59 * 1024


async def test_headers_over_60_kib_is_431(mesh: Mesh) -> None:
    await assert_rejected(mesh, with_headers(b"Cookie: " + b"c" * 61 * 1024 + b"\r\n"), 431)


async def test_many_small_headers_over_60_kib_is_431(mesh: Mesh) -> None:
    extra = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(62))
    await assert_rejected(mesh, with_headers(extra), 431)


async def test_9_kib_request_line_is_414(mesh: Mesh) -> None:
    await assert_rejected(mesh, with_headers(b"", b"/" + b"a" * 9 * 1024), 414)


async def trickle(client: RawClient) -> None:
    """Send a header byte every 50 ms: never a whole head within the header timeout."""
    with contextlib.suppress(ConnectionError):
        for _ in range(100):
            await asyncio.sleep(0.05)
            await client.send(b"X")


async def test_slowloris_is_408_while_other_clients_are_served(mesh_factory: MeshFactory) -> None:
    mesh = await mesh_factory(a_timeouts=TimeoutsConfig(header_read_s=0.5, drain_s=0.5))
    async with connect(mesh.outbound) as slow:
        await slow.send(b"GET /slow-client HTTP/1.1\r\nHost: server\r\nX-Trickle: ")
        trickling = asyncio.create_task(trickle(slow))
        try:
            other = await get(mesh.outbound, b"/other")
            assert (other.status, other.body) == (200, b"path=/other")
            response = await slow.response()
            assert response.status == 408
            assert await slow.closed_by_peer()
        finally:
            trickling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await trickling
    assert [r.target for r in mesh.app.requests] == [b"/other"]


async def test_app_not_listening_is_502_uf_after_the_default_retries(
    mesh_factory: MeshFactory,
) -> None:
    mesh = await mesh_factory(endpoints=[("127.0.0.1", closed_port())])
    response = await get(mesh.outbound)
    # Istio's default policy retries a connect failure twice; then UF, with URX for the retries.
    assert (response.status, response.flags) == (502, b"UF,URX")


async def test_cluster_without_endpoints_is_503_uh(mesh_factory: MeshFactory) -> None:
    mesh = await mesh_factory(endpoints=[])
    response = await get(mesh.outbound)
    assert (response.status, response.flags) == (503, b"UH")


async def test_upstream_slower_than_request_timeout_is_504_ut(mesh_factory: MeshFactory) -> None:
    mesh = await mesh_factory(a_timeouts=TimeoutsConfig(request_s=0.5, drain_s=0.5))
    async with connect(mesh.outbound) as client:
        response = await client.request(with_headers(b"", b"/slow/2000"))
        assert (response.status, response.flags) == (504, b"UT")
    assert [r.target for r in mesh.app.requests] == [b"/slow/2000"]


async def test_upstream_closing_mid_response_cuts_the_client(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        response = await client.request(with_headers(b"", b"/cut"))
        assert response.status == 200
        assert not response.complete
        assert len(response.body) < 100


async def test_malformed_upstream_response_is_502(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        response = await client.request(with_headers(b"", b"/malformed"))
        assert response.status == 502
        assert response.complete
