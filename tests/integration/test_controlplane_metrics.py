"""The control plane's plain-HTTP /metrics over a real config stream: a sidecar connecting,
ACKing (push latency observed) and NACKing shows up in the counters a dashboard reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from controlplane.api.snapshot import Ack
from controlplane.server import ControlPlane, ControlPlaneSettings
from tests.integration.test_config_push import REVIEWS, Mesh, registration, route
from tests.unit.controlplane.test_metrics import samples


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    settings = ControlPlaneSettings(
        data_dir=tmp_path / "data", port=0, metrics_listen=("127.0.0.1", 0)
    )
    control = ControlPlane(settings)
    url = await control.start()
    async with aiohttp.ClientSession() as session:
        mesh = Mesh(control, url, session, tmp_path)
        try:
            yield mesh
        finally:
            for sidecar in mesh.sidecars:
                await sidecar.close()
            await control.shutdown()


async def scrape(mesh: Mesh) -> dict[str, float]:
    assert mesh.control.metrics_url is not None
    async with mesh.session.get(mesh.control.metrics_url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        return samples(await resp.text())


async def test_metrics_count_connected_sidecars_pushes_acks_and_nacks(mesh: Mesh) -> None:
    before = await scrape(mesh)
    assert before["glassmesh_controlplane_connected_sidecars"] == 0
    assert before["glassmesh_controlplane_root_cert_expiry_timestamp_seconds"] > 0

    reviews = await mesh.connect(REVIEWS, registration("reviews", 15006))
    await reviews.until(lambda s: True)  # the first snapshot, ACKed
    seen = await scrape(mesh)
    assert seen["glassmesh_controlplane_connected_sidecars"] == 1
    assert seen["glassmesh_controlplane_pushes_total"] == 1
    assert seen["glassmesh_controlplane_acks_total"] == 1
    assert seen["glassmesh_controlplane_push_latency_seconds_count"] == 1

    await mesh.apply(route("r1"))
    refused = await reviews.receive()
    await reviews.send(Ack(version=refused.version, error="route r1: not for me"))
    for _ in range(100):  # the NACK is handled on the server's loop, after the send returns
        seen = await scrape(mesh)
        if seen["glassmesh_controlplane_nacks_total"]:
            break
        await asyncio.sleep(0.02)
    assert seen["glassmesh_controlplane_nacks_total"] == 1
    assert seen["glassmesh_controlplane_pushes_total"] == 2
    assert seen["glassmesh_controlplane_push_latency_seconds_count"] == 1  # not converged

    await reviews.close()
    mesh.sidecars.clear()
    for _ in range(100):
        seen = await scrape(mesh)
        if not seen["glassmesh_controlplane_connected_sidecars"]:
            break
        await asyncio.sleep(0.02)
    assert seen["glassmesh_controlplane_connected_sidecars"] == 0
