"""The registry and config stream over real HTTPS with real workload certificates from the CA.

Test sidecars register on ``/api/v1/stream``, ACK (or NACK) every snapshot, and ping at a fifth
of the lease as a real sidecar does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controlplane import ca
from controlplane.api.snapshot import (
    Ack,
    ClientMessage,
    ReadinessUpdate,
    Registration,
    Snapshot,
    decode_server,
    encode,
)
from controlplane.commands.proxies import add_parser
from controlplane.server import ControlPlane, ControlPlaneSettings

REVIEWS = "spiffe://cluster.local/ns/default/sa/reviews"
PRODUCTPAGE = "spiffe://cluster.local/ns/default/sa/productpage"
STREAM = "/api/v1/stream"


def route(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"name": "reviews"}],
            "rules": [{"backendRefs": [{"name": "reviews", "port": 9080}]}],
        },
    }


def registration(service: str, port: int, version: str = "v1") -> Registration:
    labels = {"app": service, "version": version}
    return Registration(service=service, labels=labels, address="127.0.0.1", port=port, ready=True)


def endpoints(snapshot: Snapshot, cluster: str) -> list[int]:
    """Ports of a cluster's endpoints; [] when the cluster is absent."""
    found = [c for c in snapshot.clusters if c.name == cluster]
    return [e.port for c in found for e in c.endpoints]


@dataclass
class Sidecar:
    """A test client of the config stream."""

    ws: aiohttp.ClientWebSocketResponse
    ping_s: float
    pinger: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.pinger = asyncio.create_task(self._ping())

    async def _ping(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            while not self.ws.closed:
                await self.ws.ping()
                await asyncio.sleep(self.ping_s)

    async def send(self, message: ClientMessage) -> None:
        await self.ws.send_bytes(encode(message))

    async def receive(self, within_s: float = 3.0) -> Snapshot:
        async with asyncio.timeout(within_s):
            message = await self.ws.receive()
        assert message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY), message
        return decode_server(message.data)

    async def until(self, check: Callable[[Snapshot], bool], within_s: float = 3.0) -> Snapshot:
        """ACKs snapshots until one passes ``check``; fails after ``within_s`` seconds."""
        async with asyncio.timeout(within_s):
            while True:
                snapshot = await self.receive(within_s)
                await self.send(Ack(version=snapshot.version))
                if check(snapshot):
                    return snapshot

    async def silent_for(self, seconds: float) -> bool:
        """Whether nothing at all arrives for ``seconds``."""
        try:
            async with asyncio.timeout(seconds):  # not receive(timeout): each pong restarts it
                await self.ws.receive()
        except TimeoutError:
            return True
        return False

    async def close(self) -> None:
        if self.pinger is not None:
            self.pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.pinger
        await self.ws.close()


@dataclass
class Mesh:
    """A control plane, an HTTP session and a way to connect test sidecars to it."""

    control: ControlPlane
    url: str
    session: aiohttp.ClientSession
    certs: Path
    sidecars: list[Sidecar] = field(default_factory=list)

    def client_ssl(self, identity: str | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.control.settings.data_dir / "ca" / "ca.pem")
        if identity is not None:
            issued = ca.issue_workload(self.control.authority, identity)
            name = identity.rsplit("/", 1)[-1]
            cert, key = self.certs / f"{name}.pem", self.certs / f"{name}-key.pem"
            cert.write_bytes(issued.chain_pem())
            key.write_bytes(issued.key_pem())
            ctx.load_cert_chain(cert, key)
        return ctx

    async def connect(self, identity: str, first: ClientMessage | None) -> Sidecar:
        ws = await self.session.ws_connect(self.url + STREAM, ssl=self.client_ssl(identity))
        sidecar = Sidecar(ws, self.control.settings.lease_s / 5)
        self.sidecars.append(sidecar)
        sidecar.start()
        if first is not None:
            await sidecar.send(first)
        return sidecar

    def headers(self, token: str = "readonly-token") -> dict[str, str]:
        token_file = self.control.settings.data_dir / token
        return {"Authorization": f"Bearer {token_file.read_text().strip()}"}

    async def get(self, path: str) -> Any:
        ctx = self.client_ssl(None)
        async with self.session.get(self.url + path, headers=self.headers(), ssl=ctx) as resp:
            assert resp.status == 200
            return await resp.json()

    async def apply(self, body: Any) -> None:
        ctx = self.client_ssl(None)
        headers = self.headers("admin-token")
        async with self.session.post(
            self.url + "/api/v1/resources", json=body, headers=headers, ssl=ctx
        ) as resp:
            assert resp.status == 200, await resp.text()

    async def cli(self, *argv: str) -> int:
        """Runs a CLI command in a thread: the server runs on this loop."""
        parser = argparse.ArgumentParser()
        add_parser(parser.add_subparsers(dest="command", required=True))
        data = self.control.settings.data_dir
        conn = ["--server", self.url, "--token-file", str(data / "readonly-token")]
        args = parser.parse_args([*argv, *conn, "--ca-file", str(data / "ca" / "ca.pem")])
        code: int = await asyncio.to_thread(args.func, args)
        return code


MeshFactory = Callable[[float], Awaitable[Mesh]]


@pytest.fixture
async def mesh_factory(tmp_path: Path) -> AsyncIterator[MeshFactory]:
    meshes: list[Mesh] = []
    async with aiohttp.ClientSession() as session:

        async def make(lease_s: float) -> Mesh:
            settings = ControlPlaneSettings(
                data_dir=tmp_path / f"data{len(meshes)}", port=0, lease_s=lease_s
            )
            control = ControlPlane(settings)
            url = await control.start()
            meshes.append(Mesh(control, url, session, tmp_path))
            return meshes[-1]

        try:
            yield make
        finally:
            for mesh in meshes:
                for sidecar in mesh.sidecars:
                    await sidecar.close()
                await mesh.control.shutdown()


@pytest.fixture
async def mesh(mesh_factory: MeshFactory) -> Mesh:
    return await mesh_factory(15.0)


async def bookinfo(mesh: Mesh) -> tuple[Sidecar, Sidecar, Sidecar]:
    """reviews v1 and v2 and productpage, each having seen all three endpoints."""
    v1 = await mesh.connect(REVIEWS, registration("reviews", 15006, "v1"))
    v2 = await mesh.connect(REVIEWS, registration("reviews", 15007, "v2"))
    page = await mesh.connect(PRODUCTPAGE, registration("productpage", 15008))
    for sidecar in (v1, v2, page):
        await sidecar.until(
            lambda s: (
                endpoints(s, "reviews") == [15006, 15007] and endpoints(s, "productpage") == [15008]
            )
        )
    return v1, v2, page


async def test_each_proxy_gets_the_others_endpoints(mesh: Mesh) -> None:
    _, _, page = await bookinfo(mesh)
    await page.send(ReadinessUpdate(ready=True))  # no change: nothing is pushed
    assert await page.silent_for(0.3)
    listed = await mesh.get("/api/v1/endpoints?service=reviews")
    assert [(e["port"], e["identity"], e["ready"]) for e in listed["items"]] == [
        (15006, REVIEWS, True),
        (15007, REVIEWS, True),
    ]


async def test_a_snapshot_carries_identity_hosts_and_the_trust_bundle(mesh: Mesh) -> None:
    page = await mesh.connect(PRODUCTPAGE, registration("productpage", 15008))
    snapshot = await page.until(lambda s: bool(s.clusters))
    (cluster,) = snapshot.clusters
    assert cluster.identity == PRODUCTPAGE and cluster.tls == "mtls"
    assert cluster.hosts == ["productpage.default", "productpage.default.svc.cluster.local"]
    assert snapshot.trust_bundle_pem == mesh.control.authority.cert_pem().decode()


async def test_a_burst_of_applies_is_one_push_to_every_proxy(mesh: Mesh) -> None:
    sidecars = await bookinfo(mesh)
    before = mesh.control.pusher.version
    await asyncio.gather(*(mesh.apply(route(f"r{i}")) for i in range(5)))
    for sidecar in sidecars:
        snapshot = await sidecar.receive(within_s=1.0)
        assert snapshot.version == before + 1
        (host,) = snapshot.virtual_hosts
        assert [e.route for e in host.routes] == [f"default/r{i}" for i in range(5)]
    assert await sidecars[0].silent_for(0.3)


async def test_a_nack_is_shown_by_the_api_and_proxy_status(
    mesh: Mesh, capsys: pytest.CaptureFixture[str]
) -> None:
    page = await mesh.connect(PRODUCTPAGE, registration("productpage", 15008))
    snapshot = await page.receive()
    await page.send(Ack(version=snapshot.version, error="route r0: unknown cluster"))
    for _ in range(150):  # the ACK is handled on the server's own time
        (status,) = (await mesh.get("/api/v1/proxies"))["items"]
        if status["nack"] is not None:
            break
        await asyncio.sleep(0.02)
    assert status["nack"] == "route r0: unknown cluster"
    assert status["sent_version"] == snapshot.version and status["acked_version"] is None
    assert await mesh.cli("proxy-status") == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split()[:2] == ["PROXY", "IDENTITY"]
    assert row.startswith("productpage/default") and row.endswith("route r0: unknown cluster")
    assert f" {snapshot.version} " in row and PRODUCTPAGE in row
    await page.send(Ack(version=snapshot.version))  # the sidecar fixed it: the NACK is gone
    for _ in range(150):
        (status,) = (await mesh.get("/api/v1/proxies"))["items"]
        if status["nack"] is None:
            break
        await asyncio.sleep(0.02)
    assert status["acked_version"] == snapshot.version and status["nack"] is None


async def test_the_endpoints_command_lists_instances(
    mesh: Mesh, capsys: pytest.CaptureFixture[str]
) -> None:
    await bookinfo(mesh)
    assert await mesh.cli("endpoints", "reviews", "-n", "default") == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split()[:3] == ["SERVICE", "NAMESPACE", "ENDPOINT"]
    assert [row.split()[2] for row in rows] == ["127.0.0.1:15006", "127.0.0.1:15007"]


async def test_a_not_ready_proxy_leaves_the_others_snapshots(mesh: Mesh) -> None:
    v1, _, page = await bookinfo(mesh)
    await v1.send(ReadinessUpdate(ready=False))
    await page.until(lambda s: endpoints(s, "reviews") == [15007], within_s=1.5)
    listed = await mesh.get("/api/v1/endpoints?service=reviews&namespace=default")
    assert [e["ready"] for e in listed["items"]] == [False, True]


async def test_a_closed_stream_loses_its_endpoint_after_the_lease(
    mesh_factory: MeshFactory,
) -> None:
    mesh = await mesh_factory(0.5)
    reviews = await mesh.connect(REVIEWS, registration("reviews", 15006))
    page = await mesh.connect(PRODUCTPAGE, registration("productpage", 15008))
    await page.until(lambda s: endpoints(s, "reviews") == [15006])
    await reviews.close()
    assert len((await mesh.get("/api/v1/endpoints?service=reviews"))["items"]) == 1
    await page.until(lambda s: endpoints(s, "reviews") == [], within_s=2.0)
    assert (await mesh.get("/api/v1/endpoints?service=reviews"))["items"] == []


async def test_a_reconnect_within_the_lease_keeps_the_endpoint(mesh_factory: MeshFactory) -> None:
    mesh = await mesh_factory(0.5)
    reviews = await mesh.connect(REVIEWS, registration("reviews", 15006))
    page = await mesh.connect(PRODUCTPAGE, registration("productpage", 15008))
    await page.until(lambda s: endpoints(s, "reviews") == [15006])
    await reviews.close()
    await mesh.connect(REVIEWS, registration("reviews", 15006))
    assert await page.silent_for(1.0)  # twice the lease, and the endpoint never went away
    assert len((await mesh.get("/api/v1/endpoints?service=reviews"))["items"]) == 1


async def test_a_client_without_a_certificate_gets_401(mesh: Mesh) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await mesh.session.ws_connect(mesh.url + STREAM, ssl=mesh.client_ssl(None))
    assert refused.value.status == 401


async def test_a_certificate_from_another_trust_domain_gets_401(mesh: Mesh) -> None:
    # Signed by the mesh's own CA, so only the trust domain in its SPIFFE ID is wrong.
    foreign = mesh.client_ssl("spiffe://example.org/ns/default/sa/reviews")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await mesh.session.ws_connect(mesh.url + STREAM, ssl=foreign)
    assert refused.value.status == 401
    assert (await mesh.get("/api/v1/proxies"))["items"] == []
    renewal = {"csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\n"}  # no token: the cert is all
    async with mesh.session.post(
        mesh.url + "/api/v1/certificates", json=renewal, ssl=foreign
    ) as resp:
        assert resp.status == 401


@pytest.mark.parametrize(
    "first",
    [
        Ack(version=1),
        Registration(service="reviews", namespace="prod", address="h", port=1, ready=True),
        None,
    ],
)
async def test_a_bad_first_message_closes_only_that_stream(
    mesh: Mesh, first: ClientMessage | None
) -> None:
    page = await mesh.connect(PRODUCTPAGE, registration("productpage", 15008))
    bad = await mesh.connect(REVIEWS, first)
    if first is None:
        await bad.ws.send_str('{"type": "registration", "service": "reviews"}')
    async with asyncio.timeout(3):
        closing = await bad.ws.receive()
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert bad.ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION and closing.extra
    await page.until(lambda s: endpoints(s, "productpage") == [15008])
    assert (await mesh.get("/api/v1/endpoints?service=reviews"))["items"] == []
