"""Certificates, configs and a running sidecar pair for the integration tests.

The pair is the topology every data-path test uses, all on 127.0.0.1 with ports chosen at bind:
client -> sidecar A outbound (plain HTTP) -> mutual TLS -> sidecar B inbound -> recording app.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from controlplane.api.sidecar import (
    Address,
    ClusterConfig,
    EndpointConfig,
    ListenersConfig,
    SidecarConfig,
    TimeoutsConfig,
    TlsConfig,
)
from controlplane.ca import create_root, write_workload
from sidecar.server import Sidecar
from tests.integration.rawhttp import Address as HostPort
from tests.integration.rawhttp import parse_address
from tests.integration.recording_app import RecordingApp

CLIENT_ID = "spiffe://cluster.local/ns/default/sa/client"
SERVER_ID = "spiffe://cluster.local/ns/default/sa/server"
OTHER_ID = "spiffe://cluster.local/ns/default/sa/other"
# Short enough that a test's teardown never waits long on a connection it left open.
TEST_TIMEOUTS = TimeoutsConfig(drain_s=0.5)


@dataclass(frozen=True)
class Certs:
    """PEM files in ``directory``: the mesh CA (``ca.pem``), leaves ``client``, ``server`` and
    ``other`` from it, and ``rogue-client`` (the client's ID) from a different CA."""

    directory: Path

    def tls(self, stem: str) -> TlsConfig:
        """TLS config for leaf ``stem``, paths relative to ``directory``."""
        return TlsConfig(cert=f"{stem}.pem", key=f"{stem}-key.pem", ca_bundle="ca.pem")

    def client_context(self, stem: str | None) -> ssl.SSLContext:
        """A TLS client context presenting leaf ``stem`` (none if None), trusting any server."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if stem is not None:
            d = self.directory
            ctx.load_cert_chain(d / f"{stem}.pem", d / f"{stem}-key.pem")
        return ctx


def write_certs(directory: Path) -> Certs:
    ca = create_root()
    (directory / "ca.pem").write_bytes(ca.cert_pem())
    for stem, spiffe_id in (("client", CLIENT_ID), ("server", SERVER_ID), ("other", OTHER_ID)):
        write_workload(ca, spiffe_id, directory, stem)
    write_workload(create_root(), CLIENT_ID, directory, "rogue-client")
    return Certs(directory)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def sidecar_config(
    certs: Certs,
    stem: str,
    identity: str,
    app_port: int,
    *,
    clusters: list[ClusterConfig] | None = None,
    timeouts: TimeoutsConfig = TEST_TIMEOUTS,
) -> SidecarConfig:
    """A sidecar named ``stem`` with every listener on port 0."""
    zero = Address(port=0)
    return SidecarConfig(
        service=stem,
        identity=identity,
        app=Address(port=app_port),
        tls=certs.tls(stem),
        listeners=ListenersConfig(outbound=zero, inbound=zero, admin=zero),
        clusters=clusters or [],
        timeouts=timeouts,
    )


def server_cluster(endpoints: list[HostPort], identity: str = SERVER_ID) -> ClusterConfig:
    """The client's view of the ``server`` service."""
    return ClusterConfig(
        name="server",
        identity=identity,
        endpoints=[EndpointConfig(address=host, port=port) for host, port in endpoints],
    )


def bound(sidecar: Sidecar, listener: str) -> HostPort:
    return parse_address(sidecar.bound_addresses()[listener])


@dataclass
class Mesh:
    """A running pair: ``a`` is the client's sidecar, ``b`` the server's, ``app`` behind b."""

    a: Sidecar
    b: Sidecar
    app: RecordingApp

    @property
    def outbound(self) -> HostPort:
        return bound(self.a, "outbound")

    @property
    def inbound(self) -> HostPort:
        return bound(self.b, "inbound")

    @property
    def admin(self) -> HostPort:
        return bound(self.a, "admin")


class MeshFactory(Protocol):
    """Starts B in front of the app, then A, whose ``server`` cluster points at B's inbound
    listener unless ``endpoints`` says otherwise."""

    async def __call__(
        self,
        *,
        a_timeouts: TimeoutsConfig = ...,
        identity: str = ...,
        endpoints: list[HostPort] | None = ...,
    ) -> Mesh: ...
