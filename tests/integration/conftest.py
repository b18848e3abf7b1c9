"""Fixtures of the sidecar integration tests: certificates, the recording app, a sidecar pair.

Sidecars run in-process on the test's event loop and are always shut down in teardown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from controlplane.api.sidecar import TimeoutsConfig
from sidecar.server import Sidecar
from tests.integration.mesh import (
    CLIENT_ID,
    SERVER_ID,
    TEST_TIMEOUTS,
    Certs,
    Mesh,
    MeshFactory,
    bound,
    server_cluster,
    sidecar_config,
    write_certs,
)
from tests.integration.rawhttp import Address
from tests.integration.recording_app import RecordingApp


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return write_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
async def app() -> AsyncIterator[RecordingApp]:
    recording = RecordingApp()
    await recording.start()
    yield recording
    await recording.close()


@pytest.fixture
async def mesh_factory(certs: Certs, app: RecordingApp) -> AsyncIterator[MeshFactory]:
    started: list[Sidecar] = []

    async def start(sidecar: Sidecar) -> Sidecar:
        started.append(sidecar)
        await sidecar.start()
        return sidecar

    async def make(
        *,
        a_timeouts: TimeoutsConfig = TEST_TIMEOUTS,
        identity: str = SERVER_ID,
        endpoints: list[Address] | None = None,
    ) -> Mesh:
        b_config = sidecar_config(certs, "server", SERVER_ID, app.port)
        b = await start(Sidecar(b_config, certs.directory))
        cluster = server_cluster(
            [bound(b, "inbound")] if endpoints is None else endpoints, identity
        )
        a_config = sidecar_config(
            certs, "client", CLIENT_ID, app.port, clusters=[cluster], timeouts=a_timeouts
        )
        a = await start(Sidecar(a_config, certs.directory))
        return Mesh(a, b, app)

    yield make
    for sidecar in reversed(started):
        await sidecar.shutdown()


@pytest.fixture
async def mesh(mesh_factory: MeshFactory) -> Mesh:
    return await mesh_factory()
