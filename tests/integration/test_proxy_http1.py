"""HTTP/1.1 through a sidecar pair: what a client and the app behind it see end to end."""

from __future__ import annotations

import re

import pytest

from tests.integration.mesh import Mesh
from tests.integration.rawhttp import connect
from tests.integration.recording_app import AppRequest, pattern

MIB = 1024 * 1024
SIZES = [0, 1024, 5 * MIB]
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
CLIENT_XFCC = b"URI=spiffe://cluster.local/ns/default/sa/client"


def get_request(target: bytes = b"/x", extra: bytes = b"") -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: server\r\n%s\r\n" % (target, extra)


def chunked(body: bytes, size: int = 65536) -> bytes:
    pieces = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(pieces) + b"0\r\n\r\n"


async def only_request(mesh: Mesh) -> AppRequest:
    (request,) = mesh.app.requests
    return request


async def test_get_in_proxy_form_reaches_app_in_origin_form(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        response = await client.request(b"GET http://server/x?q=1 HTTP/1.1\r\nHost: server\r\n\r\n")
    assert (response.status, response.body) == (200, b"path=/x?q=1")
    request = await only_request(mesh)
    assert (request.method, request.target, request.values(b"host")) == (
        b"GET",
        b"/x?q=1",
        [b"server"],
    )


async def test_absolute_form_authority_wins_over_host(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        response = await client.request(b"GET http://server/x HTTP/1.1\r\nHost: other\r\n\r\n")
    assert (response.status, response.body) == (200, b"path=/x")
    assert (await only_request(mesh)).values(b"host") == [b"server"]


async def test_get_in_host_form(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        response = await client.request(get_request(b"/hello"))
    assert (response.status, response.body) == (200, b"path=/hello")
    assert (await only_request(mesh)).values(b"host") == [b"server"]


@pytest.mark.parametrize("size", SIZES)
async def test_post_with_content_length_arrives_byte_exact(mesh: Mesh, size: int) -> None:
    body = pattern(size)
    head = b"POST /echo HTTP/1.1\r\nHost: server\r\nContent-Length: %d\r\n\r\n" % size
    async with connect(mesh.outbound) as client:
        response = await client.request(head + body)
    assert response.status == 200
    assert response.body == body
    assert (await only_request(mesh)).body == body


@pytest.mark.parametrize("size", SIZES)
async def test_post_chunked_arrives_byte_exact(mesh: Mesh, size: int) -> None:
    body = pattern(size)
    head = b"POST /echo HTTP/1.1\r\nHost: server\r\nTransfer-Encoding: chunked\r\n\r\n"
    async with connect(mesh.outbound) as client:
        response = await client.request(head + chunked(body))
    assert (response.status, response.body) == (200, body)
    request = await only_request(mesh)
    assert request.complete and request.body == body


async def test_request_body_streams_to_app_before_client_finishes(mesh: Mesh) -> None:
    body = pattern(4 * MIB)
    head = b"POST /echo HTTP/1.1\r\nHost: server\r\nContent-Length: %d\r\n\r\n" % len(body)
    async with connect(mesh.outbound) as client:
        await client.send(head + body[:MIB])
        # The app sees body bytes while a quarter of the body has been sent.
        await mesh.app.wait_for(lambda: bool(mesh.app.requests and mesh.app.requests[0].body))
        assert not mesh.app.requests[0].complete
        await client.send(body[MIB:])
        response = await client.response()
    assert (response.status, response.body) == (200, body)


@pytest.mark.parametrize("kind", [b"big", b"chunked", b"close"])
async def test_large_response_streams_back_byte_exact(mesh: Mesh, kind: bytes) -> None:
    size = 5 * MIB
    async with connect(mesh.outbound) as client:
        response = await client.request(get_request(b"/%s/%d" % (kind, size)))
    assert response.status == 200
    assert response.complete
    assert response.body == pattern(size)


async def test_response_streams_to_client_before_app_finishes(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        await client.send(get_request(b"/gated"))
        head = await client.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        # The first half arrives while the app still holds back the second.
        assert await client.read_exactly(5) == b"hello"
        mesh.app.gate.set()
        assert await client.read_exactly(5) == b"world"


async def test_keep_alive_serves_many_requests_on_one_connection(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        for i in range(30):
            response = await client.request(get_request(b"/r%d" % i))
            assert (response.status, response.body) == (200, b"path=/r%d" % i)
            assert response.header(b"connection") != b"close"
    assert len(mesh.app.requests) == 30


async def test_upstream_connections_are_reused(mesh: Mesh) -> None:
    for i in range(5):
        async with connect(mesh.outbound) as client:
            assert (await client.request(get_request(b"/r%d" % i))).status == 200
    assert len(mesh.app.requests) == 5
    assert len(mesh.app.connections) == 1


async def test_connection_close_closes_after_the_response(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        response = await client.request(get_request(extra=b"Connection: close\r\n"))
        assert (response.status, response.body) == (200, b"path=/x")
        assert response.header(b"connection") == b"close"
        assert await client.closed_by_peer()


async def test_http10_without_keep_alive_closes_after_the_response(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        response = await client.request(b"GET /x HTTP/1.0\r\nHost: server\r\n\r\n")
        assert (response.status, response.body) == (200, b"path=/x")
        assert await client.closed_by_peer()


async def test_http10_client_never_gets_chunked_coding(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        response = await client.request(b"GET /chunked/300000 HTTP/1.0\r\nHost: server\r\n\r\n")
        assert response.status == 200
        assert response.header(b"transfer-encoding") is None
        assert response.body == pattern(300000)
        assert await client.closed_by_peer()


async def test_http10_with_keep_alive_stays_open(mesh: Mesh) -> None:
    request = b"GET /k%d HTTP/1.0\r\nHost: server\r\nConnection: keep-alive\r\n\r\n"
    async with connect(mesh.outbound) as client:
        for i in range(3):
            response = await client.request(request % i)
            assert (response.status, response.body) == (200, b"path=/k%d" % i)
            assert response.header(b"connection") == b"keep-alive"


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [(b"HEAD", b"/big/1000", 200), (b"GET", b"/status/204", 204), (b"GET", b"/status/304", 304)],
)
async def test_bodyless_responses_leave_connection_usable(
    mesh: Mesh, method: bytes, target: bytes, status: int
) -> None:
    async with connect(mesh.outbound) as client:
        await client.send(b"%s %s HTTP/1.1\r\nHost: server\r\n\r\n" % (method, target))
        response = await client.response(head=True)
        assert response.status == status
        if method == b"HEAD":
            assert response.header(b"content-length") == b"1000"
        # Had a body leaked after the head, it would be read here instead of the next response.
        after = await client.request(get_request(b"/after"))
        assert (after.status, after.body) == (200, b"path=/after")


async def test_expect_100_continue(mesh: Mesh) -> None:
    head = (
        b"POST /echo HTTP/1.1\r\nHost: server\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    )
    async with connect(mesh.outbound) as client:
        interim = await client.request(head)
        assert interim.status == 100
        response = await client.request(b"hello")
    assert (response.status, response.body) == (200, b"hello")
    assert (await only_request(mesh)).body == b"hello"


async def test_expect_100_continue_to_unknown_host_is_answered_without_the_body(
    mesh: Mesh,
) -> None:
    head = b"POST /x HTTP/1.1\r\nHost: nowhere\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    async with connect(mesh.outbound) as client:
        response = await client.request(head)
        assert (response.status, response.flags) == (404, b"NR")
        assert await client.closed_by_peer()


async def test_websocket_upgrade_is_tunnelled_both_ways(mesh: Mesh) -> None:
    head = get_request(b"/upgrade", b"Connection: Upgrade\r\nUpgrade: websocket\r\n")
    async with connect(mesh.outbound) as client:
        response = await client.request(head)
        assert response.status == 101
        assert response.header(b"upgrade") == b"websocket"
        for message in (b"ping", pattern(256 * 1024), b"\r\n\r\nGET / HTTP/1.1\r\n\r\n"):
            await client.send(message)
            assert await client.read_exactly(len(message)) == message


async def test_hop_by_hop_headers_do_not_reach_app(mesh: Mesh) -> None:
    extra = (
        b"Connection: keep-alive, x-secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\n"
        b"Proxy-Connection: keep-alive\r\nTE: trailers\r\nX-End-To-End: yes\r\n"
    )
    async with connect(mesh.outbound) as client:
        assert (await client.request(get_request(extra=extra))).status == 200
    request = await only_request(mesh)
    assert request.values(b"x-end-to-end") == [b"yes"]
    hop_by_hop = {b"connection", b"x-secret", b"keep-alive", b"proxy-connection", b"te"}
    assert request.names & hop_by_hop == set()


async def test_request_id_is_added_when_absent(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        assert (await client.request(get_request())).status == 200
    (request_id,) = (await only_request(mesh)).values(b"x-request-id")
    assert UUID.match(request_id)


async def test_request_id_is_kept_when_present(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        response = await client.request(get_request(extra=b"X-Request-Id: abc-123\r\n"))
        assert response.status == 200
    assert (await only_request(mesh)).values(b"x-request-id") == [b"abc-123"]


async def test_app_receives_the_callers_identity(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        assert (await client.request(get_request())).status == 200
    (xfcc,) = (await only_request(mesh)).values(b"x-forwarded-client-cert")
    assert CLIENT_XFCC in xfcc


@pytest.mark.parametrize("connection", [b"", b"Connection: x-forwarded-client-cert\r\n"])
async def test_client_supplied_identity_never_reaches_app(mesh: Mesh, connection: bytes) -> None:
    forged = b"X-Forwarded-Client-Cert: By=x;URI=spiffe://cluster.local/ns/kube-system/sa/admin\r\n"
    async with connect(mesh.outbound) as client:
        assert (await client.request(get_request(extra=forged + connection))).status == 200
    (xfcc,) = (await only_request(mesh)).values(b"x-forwarded-client-cert")
    assert CLIENT_XFCC in xfcc
    assert b"admin" not in xfcc


async def test_unknown_host_is_404_no_route(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        response = await client.request(b"GET /x HTTP/1.1\r\nHost: nowhere\r\n\r\n")
        assert (response.status, response.flags) == (404, b"NR")
        assert (await client.request(get_request())).status == 200  # still usable
    assert [r.target for r in mesh.app.requests] == [b"/x"]


async def test_pipelined_requests_are_answered_in_order(mesh: Mesh) -> None:
    requests = [
        get_request(b"/p1"),
        b"POST /echo HTTP/1.1\r\nHost: server\r\nContent-Length: 4\r\n\r\nbody",
        get_request(b"/p3"),
        b"GET http://server/p4 HTTP/1.1\r\nHost: server\r\n\r\n",
    ]
    async with connect(mesh.outbound) as client:
        await client.send(b"".join(requests))
        bodies = [(await client.response()).body for _ in requests]
    assert bodies == [b"path=/p1", b"body", b"path=/p3", b"path=/p4"]
