"""Mutual TLS between sidecars (reliability anchors 8.4): the inbound port speaks only mTLS with
a mesh certificate, and a caller only talks to the identity its cluster names."""

from __future__ import annotations

import ssl

import pytest

from tests.integration.mesh import OTHER_ID, Certs, Mesh, MeshFactory
from tests.integration.rawhttp import connect, get

REQUEST = b"GET /x HTTP/1.1\r\nHost: server\r\n\r\n"
CLIENT_URI = b"URI=spiffe://cluster.local/ns/default/sa/client"


async def answer_to(mesh: Mesh, context: ssl.SSLContext | None, request: bytes = REQUEST) -> bytes:
    """Whatever B's inbound port sends back to ``request``; b"" if the handshake fails."""
    try:
        async with connect(mesh.inbound, context) as client:
            await client.send(request)
            return await client.read_all()
    except (ssl.SSLError, ConnectionError):
        return b""


async def test_plaintext_request_to_inbound_gets_no_http_response(mesh: Mesh) -> None:
    answer = await answer_to(mesh, None)
    assert not answer.startswith(b"HTTP/")
    assert mesh.app.bytes_received == 0


@pytest.mark.parametrize("stem", [None, "rogue-client"], ids=["no-client-cert", "other-ca"])
async def test_inbound_refuses_client_without_a_mesh_certificate(
    mesh: Mesh, certs: Certs, stem: str | None
) -> None:
    assert await answer_to(mesh, certs.client_context(stem)) == b""
    assert mesh.app.bytes_received == 0


async def test_inbound_serves_a_mesh_peer_and_stamps_its_identity(mesh: Mesh, certs: Certs) -> None:
    request = (
        b"GET /direct HTTP/1.1\r\nHost: server\r\nConnection: close, x-forwarded-client-cert\r\n"
        b"X-Forwarded-Client-Cert: URI=spiffe://cluster.local/ns/kube-system/sa/admin\r\n\r\n"
    )
    answer = await answer_to(mesh, certs.client_context("client"), request)
    assert answer.startswith(b"HTTP/1.1 200 ")
    (xfcc,) = mesh.app.requests[0].values(b"x-forwarded-client-cert")
    assert CLIENT_URI in xfcc
    assert b"admin" not in xfcc


async def test_server_with_unexpected_identity_is_refused(mesh_factory: MeshFactory) -> None:
    mesh = await mesh_factory(identity=OTHER_ID)
    response = await get(mesh.outbound)
    assert (response.status, response.flags) == (502, b"UF,URX")  # refused on every try
    assert mesh.app.bytes_received == 0
