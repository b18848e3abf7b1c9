"""Workload certificates from the control plane: a sidecar pair gets its identities from a real
control plane over HTTPS, rotates them under traffic without dropping a connection, refuses a
certificate that is not its own, and keeps serving while the control plane is down."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest
from cryptography import x509

from controlplane.api.sidecar import ControlPlaneConfig
from controlplane.ca import issue_workload
from controlplane.server import ControlPlane, ControlPlaneSettings
from sidecar.agent import CertificateAgent
from sidecar.backoff import Backoff
from sidecar.server import Sidecar, SidecarStartError
from tests.integration.mesh import (
    CLIENT_ID,
    SERVER_ID,
    Certs,
    Mesh,
    bound,
    closed_port,
    server_cluster,
    sidecar_config,
)
from tests.integration.rawhttp import Address, RawClient, connect, get
from tests.integration.recording_app import RecordingApp

REQUEST = b"GET /x HTTP/1.1\r\nHost: server\r\n\r\n"
SHORT = dt.timedelta(seconds=4)


@dataclass
class Planes:
    """Control planes started by a test (all on ``data_dir``), shut down in teardown."""

    directory: Path
    started: list[ControlPlane] = field(default_factory=list)

    async def start(self, lifetime: dt.timedelta = dt.timedelta(hours=1), port: int = 0) -> str:
        settings = ControlPlaneSettings(
            data_dir=self.directory / "data", port=port, workload_lifetime=lifetime
        )
        self.started.append(ControlPlane(settings))
        return await self.started[-1].start()

    @property
    def control(self) -> ControlPlane:
        return self.started[-1]

    def config(
        self, url: str, service_account: str, token: str | None = None
    ) -> ControlPlaneConfig:
        """A control_plane section with a join token for ``service_account`` (or ``token``)."""
        path = self.directory / f"{service_account}-token"
        issued = self.control.join_tokens.issue("default", service_account, 3600, time.time())
        path.write_text((token or issued) + "\n")
        ca_file = self.directory / "data" / "ca" / "ca.pem"
        return ControlPlaneConfig(url=url, ca_file=str(ca_file), token_file=path.name)


@dataclass
class Sidecars:
    """Sidecars started by a test, shut down in teardown."""

    certs: Certs
    app: RecordingApp
    base_dir: Path
    backoff: Backoff = field(default_factory=Backoff)
    started: list[Sidecar] = field(default_factory=list)

    async def start(
        self, stem: str, identity: str, control_plane: ControlPlaneConfig, upstream: Sidecar | None
    ) -> Sidecar:
        """A sidecar whose certificates come from ``control_plane``; with ``upstream``, its
        ``server`` cluster points at that sidecar's inbound listener."""
        clusters = [server_cluster([bound(upstream, "inbound")])] if upstream else None
        config = sidecar_config(self.certs, stem, identity, self.app.port, clusters=clusters)
        config = msgspec.structs.replace(config, tls=None, control_plane=control_plane)
        sidecar = Sidecar(config, self.base_dir, backoff=self.backoff)
        self.started.append(sidecar)
        await sidecar.start()
        return sidecar

    async def pair(self, url: str, planes: Planes) -> Mesh:
        b = await self.start("server", SERVER_ID, planes.config(url, "server"), None)
        a = await self.start("client", CLIENT_ID, planes.config(url, "client"), b)
        return Mesh(a, b, self.app)


@pytest.fixture
async def planes(tmp_path: Path) -> AsyncIterator[Planes]:
    planes = Planes(tmp_path)
    yield planes
    for control in planes.started:
        await control.shutdown()


@pytest.fixture
async def sidecars(certs: Certs, app: RecordingApp, tmp_path: Path) -> AsyncIterator[Sidecars]:
    started = Sidecars(certs, app, tmp_path)
    yield started
    for sidecar in reversed(started.started):
        await sidecar.shutdown()


def serial_of(der: bytes | None) -> int:
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def peer_serial(client: RawClient) -> int:
    return serial_of(client.writer.get_extra_info("ssl_object").getpeercert(binary_form=True))


def agent_of(sidecar: Sidecar) -> CertificateAgent:
    assert sidecar.link is not None
    return sidecar.link.agent


def serial(sidecar: Sidecar) -> int:
    current = agent_of(sidecar).current
    assert current is not None
    return current.serial


def client_ssl(sidecar: Sidecar) -> ssl.SSLContext:
    """The context ``sidecar`` connects to peers with (what its clusters hold)."""
    context = sidecar.tables.clusters()[0].settings.ssl
    assert context is not None
    return context


async def test_a_pair_with_issued_certificates_carries_a_request_over_mtls(
    planes: Planes, sidecars: Sidecars
) -> None:
    mesh = await sidecars.pair(await planes.start(), planes)
    response = await get(mesh.outbound)
    assert response.status == 200
    (xfcc,) = mesh.app.requests[0].values(b"x-forwarded-client-cert")
    assert f"By={SERVER_ID};URI={CLIENT_ID}".encode() == xfcc
    (expiry,) = [line for line in mesh.a.prometheus_lines() if "expiry_seconds" in line]
    assert 3500 < float(expiry.split()[1]) <= 3600


async def rotate_under_traffic(mesh: Mesh, downstream: RawClient, direct: RawClient) -> int:
    """Send a request every ~100 ms on both connections for at least 5 s and until both
    sidecars rotated; returns how many got an answer other than 200."""
    failed = 0
    for i in range(150):
        for client in (downstream, direct):
            failed += (await client.request(REQUEST)).status != 200
        agents = [agent_of(mesh.a), agent_of(mesh.b)]
        if i >= 50 and all(agent.rotations for agent in agents):
            break
        await asyncio.sleep(0.1)
    return failed


async def presented_client_serial(mesh: Mesh, planes: Planes, tmp_path: Path) -> int:
    """Connect to a probe TLS server with A's client context; the serial A presents."""
    issued = issue_workload(planes.control.authority, "spiffe://cluster.local/ns/default/sa/probe")
    (tmp_path / "probe.pem").write_bytes(issued.chain_pem())
    (tmp_path / "probe-key.pem").write_bytes(issued.key_pem())
    server_ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ssl.verify_mode = ssl.CERT_REQUIRED
    server_ssl.load_cert_chain(tmp_path / "probe.pem", tmp_path / "probe-key.pem")
    server_ssl.load_verify_locations(planes.directory / "data" / "ca" / "ca.pem")
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def probe(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.set_result(serial_of(writer.get_extra_info("ssl_object").getpeercert(True)))
        writer.close()

    server = await asyncio.start_server(probe, "127.0.0.1", 0, ssl=server_ssl)
    try:
        address: Address = server.sockets[0].getsockname()[:2]
        async with connect(address, client_ssl(mesh.a)):
            async with asyncio.timeout(3):
                return await seen
    finally:
        server.close()
        await server.wait_closed()


async def test_certificates_rotate_under_traffic_without_dropping_a_connection(
    planes: Planes, sidecars: Sidecars, tmp_path: Path
) -> None:
    mesh = await sidecars.pair(await planes.start(SHORT), planes)
    first_a, first_b = serial(mesh.a), serial(mesh.b)
    async with (
        connect(mesh.outbound) as downstream,
        connect(mesh.inbound, client_ssl(mesh.a)) as direct,
    ):
        assert peer_serial(direct) == first_b
        assert await rotate_under_traffic(mesh, downstream, direct) == 0
        assert peer_serial(direct) == first_b  # the open connection kept its session
    assert agent_of(mesh.a).rotations >= 1
    assert agent_of(mesh.b).rotations >= 1
    # A's one pooled mTLS connection to B carried every request, across both rotations.
    assert mesh.a.tables.clusters()[0].endpoints[0].cx_total == 1
    # New connections present the new certificates, both ways.
    async with connect(mesh.inbound, client_ssl(mesh.a)) as fresh:
        assert peer_serial(fresh) == serial(mesh.b) != first_b
        assert (await fresh.request(REQUEST)).status == 200
    assert await presented_client_serial(mesh, planes, tmp_path) == serial(mesh.a) != first_a


async def start_fails(sidecars: Sidecars, control_plane: ControlPlaneConfig) -> str:
    with pytest.raises(SidecarStartError) as err:
        await sidecars.start("server", SERVER_ID, control_plane, None)
    assert sidecars.started[-1].bound_addresses() == {}  # nothing was bound
    return str(err.value)


async def test_a_refused_join_token_stops_the_sidecar_at_start(
    planes: Planes, sidecars: Sidecars
) -> None:
    url = await planes.start()
    message = await start_fails(sidecars, planes.config(url, "server", token="gmj1.forged.sig"))
    assert url in message and "HTTP 401" in message
    assert "the join token was refused" in message


async def test_a_token_for_another_identity_stops_the_sidecar_at_start(
    planes: Planes, sidecars: Sidecars
) -> None:
    url = await planes.start()
    message = await start_fails(sidecars, planes.config(url, "other"))
    assert "spiffe://cluster.local/ns/default/sa/other" in message
    assert f"this sidecar's identity is {SERVER_ID}" in message


async def test_an_unreachable_control_plane_stops_the_sidecar_at_start(
    planes: Planes, sidecars: Sidecars
) -> None:
    await planes.start()
    url = f"https://127.0.0.1:{closed_port()}"
    message = await start_fails(sidecars, planes.config(url, "server"))
    assert f"cannot reach the control plane at {url}" in message


async def test_a_control_plane_not_signed_by_ca_file_is_not_trusted(
    planes: Planes, sidecars: Sidecars, certs: Certs
) -> None:
    url = await planes.start()
    config = planes.config(url, "server")
    wrong_ca = msgspec.structs.replace(config, ca_file=str(certs.directory / "ca.pem"))
    message = await start_fails(sidecars, wrong_ca)
    assert f"cannot reach the control plane at {url}" in message
    assert "certificate verify failed" in message


async def wait_until(condition: object, what: str, wait_s: float = 8.0) -> None:
    assert callable(condition)
    for _ in range(int(wait_s / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_the_sidecar_keeps_serving_while_the_control_plane_is_down(
    planes: Planes, sidecars: Sidecars
) -> None:
    sidecars.backoff = Backoff(min_s=0.05, max_s=0.2)
    url = await planes.start(SHORT)
    mesh = await sidecars.pair(url, planes)
    agent, first = agent_of(mesh.a), serial(mesh.a)
    async with connect(mesh.outbound) as downstream:
        assert (await downstream.request(REQUEST)).status == 200
        await planes.control.shutdown()
        await wait_until(lambda: agent.renewal_failures >= 3, "failed renewals")
        assert serial(mesh.a) == first and agent.rotations == 0
        assert (await downstream.request(REQUEST)).status == 200
        # Back on the same address: the next retry succeeds.
        await planes.start(SHORT, port=int(url.rsplit(":", 1)[1]))
        await wait_until(lambda: agent.rotations >= 1, "a rotation after recovery")
        assert serial(mesh.a) != first
        assert (await downstream.request(REQUEST)).status == 200


async def test_renewal_needs_no_join_token_once_the_sidecar_has_a_certificate(
    planes: Planes, sidecars: Sidecars
) -> None:
    url = await planes.start(SHORT)
    b = await sidecars.start("server", SERVER_ID, planes.config(url, "server"), None)
    token_file = sidecars.base_dir / "server-token"
    token_file.write_text("gmj1.expired.garbage\n")  # the join token is gone after bootstrap
    agent = agent_of(b)
    first = serial(b)
    await wait_until(lambda: agent.rotations >= 2, "two renewals on the certificate alone")
    assert serial(b) != first and agent.renewal_failures == 0
