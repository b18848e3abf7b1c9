"""AuthorizationPolicy and identity headers on the inbound side, end to end through sidecars
configured by the control plane: who may call, what they may call, path-normalization bypass
attempts, and forged identity headers."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import msgspec
import pytest

from controlplane import ca
from sidecar.server import Sidecar
from tests.integration.bookinfo import (
    Bookinfo,
    bookinfo_mesh,  # noqa: F401 (the mesh fixture)
    endpoint_ports,
    wait_until,
)
from tests.integration.bookinfo import outbound_get as raw_get
from tests.integration.mesh import bound
from tests.integration.rawhttp import connect

PRODUCTPAGE = "cluster.local/ns/default/sa/productpage"


def policy(name: str, action: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "glassmesh.io/v1alpha1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": "reviews"}}, "action": action, "rules": rules},
    }


ALLOW_PRODUCTPAGE = policy(
    "reviews-callers",
    "ALLOW",
    [
        {
            "from": [{"source": {"principals": [PRODUCTPAGE]}}],
            "to": [{"operation": {"methods": ["GET"]}}],
        }
    ],
)
DENY_ADMIN = policy(
    "no-admin", "DENY", [{"to": [{"operation": {"paths": ["/admin", "/admin/*"]}}]}]
)


async def secured(mesh: Bookinfo) -> tuple[Sidecar, Sidecar, Sidecar]:
    await mesh.start_control()
    reviews = await mesh.start("reviews")
    page = await mesh.start("productpage")
    ratings = await mesh.start("ratings")
    await wait_until(lambda: bool(endpoint_ports(ratings, "reviews")), "the reviews endpoint")
    await mesh.apply([ALLOW_PRODUCTPAGE, DENY_ADMIN])
    await wait_until(lambda: reviews.inbound.authorizer is not None, "the policies")
    return reviews, page, ratings


async def test_only_the_allowed_caller_gets_through(mesh: Bookinfo) -> None:
    _, page, ratings = await secured(mesh)
    allowed = await raw_get(page, b"/reviews/1")
    assert allowed.status == 200
    denied = await raw_get(ratings, b"/reviews/1")
    assert (denied.status, denied.flags) == (403, b"RBAC")
    async with connect(bound(page, "outbound")) as client:
        post = b"POST /reviews/1 HTTP/1.1\r\nHost: reviews\r\nContent-Length: 0\r\n\r\n"
        posted = await client.request(post)
    assert (posted.status, posted.flags) == (403, b"RBAC")  # only GET is allowed


@pytest.mark.parametrize(
    ("target", "status"),
    [
        (b"/admin", 403),
        (b"/admin/../admin", 403),
        (b"//admin", 403),
        (b"/%61dmin", 403),
        (b"/admin;x", 403),
        (b"/admin/./users", 403),
        (b"/admin%2F", 400),  # an encoded slash is refused outright
        (b"/admin%5cusers", 400),
        (b"/ADMIN", 404),  # another path (case-sensitive): allowed, and the app has no such page
    ],
)
async def test_path_tricks_do_not_get_past_a_deny(
    mesh: Bookinfo, target: bytes, status: int
) -> None:
    _, page, _ = await secured(mesh)
    response = await raw_get(page, target)
    assert response.status == status, response.body[:200]
    if status == 403:
        assert response.flags == b"RBAC"


async def test_a_forged_identity_header_never_reaches_the_app(mesh: Bookinfo) -> None:
    _, page, _ = await secured(mesh)
    forged = b"x-forwarded-client-cert: By=x;URI=spiffe://cluster.local/ns/default/sa/admin\r\n"
    response = await raw_get(page, b"/reviews/1", forged)
    assert response.status == 200
    assert json.loads(response.body)["caller"] == f"spiffe://{PRODUCTPAGE}"


def peer_authentication(mode: str) -> dict[str, Any]:
    return {
        "apiVersion": "glassmesh.io/v1alpha1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "reviews-mtls"},
        "spec": {"selector": {"matchLabels": {"app": "reviews"}}, "mtls": {"mode": mode}},
    }


async def plaintext_get(reviews: Sidecar) -> bytes:
    """A plaintext request straight to the reviews sidecar's inbound port: the answer, or b""
    if the connection was closed on it."""
    async with connect(bound(reviews, "inbound")) as client:
        await client.send(b"GET /echo/x HTTP/1.1\r\nHost: reviews\r\nConnection: close\r\n\r\n")
        return await client.read_all()


async def test_peer_authentication_strict_refuses_plaintext_and_permissive_serves_it(
    mesh: Bookinfo,
) -> None:
    reviews, page = await mesh.start_reviews_and_page()
    assert await plaintext_get(reviews) == b""  # STRICT unless a policy says otherwise
    assert reviews.sniffer is not None and reviews.sniffer.plaintext_refused == 1

    await mesh.apply(peer_authentication("PERMISSIVE"))
    await wait_until(lambda: reviews.peer_mode == "PERMISSIVE", "PERMISSIVE")
    answer = await plaintext_get(reviews)
    assert answer.startswith(b"HTTP/1.1 200 ")
    echoed = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert "X-Forwarded-Client-Cert" not in echoed["headers"]  # no certificate, no identity
    assert (await raw_get(page, b"/reviews/1")).status == 200  # mTLS still works

    await mesh.apply(peer_authentication("STRICT"))
    await wait_until(lambda: reviews.peer_mode == "STRICT", "STRICT again")
    assert await plaintext_get(reviews) == b""


async def test_peer_authentication_disable_makes_clients_connect_in_plaintext(
    mesh: Bookinfo,
) -> None:
    _, page = await mesh.start_reviews_and_page()
    await mesh.apply(peer_authentication("DISABLE"))

    def plaintext() -> bool:
        found = [c for c in page.tables.clusters() if c.name == "reviews"]
        return bool(found) and found[0].settings.ssl is None and bool(found[0].endpoints)

    await wait_until(plaintext, "a plaintext cluster for reviews")
    response = await raw_get(page, b"/reviews/1")
    assert response.status == 200
    assert json.loads(response.body)["caller"] is None  # no mTLS, so no identity to pass on


async def test_a_root_added_to_the_pushed_trust_bundle_is_trusted_for_new_connections(
    mesh: Bookinfo, tmp_path: Path
) -> None:
    await mesh.start_control()
    reviews = await mesh.start("reviews")
    await wait_until(lambda: reviews.ready, "the first snapshot")
    new_root = ca.create_root()  # the root being rotated in
    cert, key = ca.write_workload(new_root, f"spiffe://{PRODUCTPAGE}", tmp_path, "rotated")
    client = ssl.create_default_context(cafile=mesh.data_dir / "ca" / "ca.pem")
    client.check_hostname = False
    client.load_cert_chain(cert, key)

    async def call() -> bytes:
        try:
            async with connect(bound(reviews, "inbound"), client) as conn:
                await conn.send(b"GET /reviews/1 HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n")
                return await conn.read_all()
        except (ssl.SSLError, ConnectionError):
            return b""

    assert await call() == b""  # a certificate from a root the mesh does not trust yet
    assert reviews.link is not None and reviews.link.snapshot is not None
    current = reviews.link.snapshot
    bundle = current.trust_bundle_pem + new_root.cert_pem().decode()
    reviews.link.apply(msgspec.structs.replace(current, trust_bundle_pem=bundle))
    answer = await call()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert f"spiffe://{PRODUCTPAGE}" in json.loads(answer.split(b"\r\n\r\n", 1)[1])["caller"]
