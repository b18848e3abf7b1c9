"""Faults around the control plane: it is killed and restarted under traffic, and a sidecar
process dies and its endpoint leaves every snapshot within the lease."""

from __future__ import annotations

import asyncio
import collections
import sys
import time

import msgspec

from controlplane.tokens import TokenAuthority
from tests.integration.bookinfo import (
    SPLIT,
    Bookinfo,
    bookinfo_mesh,  # noqa: F401 (the mesh fixture)
    endpoint_ports,
    inbound_port,
    wait_until,
)
from tests.integration.mesh import closed_port

OUTAGE_LEASE_S = 2


async def test_the_control_plane_killed_for_longer_than_a_lease_fails_no_request(
    mesh: Bookinfo,
) -> None:
    port = closed_port()
    await mesh.start_control_process(port, lease=f"{OUTAGE_LEASE_S}s")
    await mesh.start("reviews", "v1")
    v2 = await mesh.start("reviews", "v2")
    page = await mesh.start("productpage")
    await mesh.apply(SPLIT)
    await wait_until(lambda: endpoint_ports(page, "reviews|v2") == [inbound_port(v2)], "split")
    assert page.link is not None
    client = page.link.client
    statuses: collections.Counter[int] = collections.Counter()
    seen: collections.Counter[str] = collections.Counter()
    stop = asyncio.Event()

    async def traffic() -> None:
        while not stop.is_set():
            status, body = await mesh.call(page)
            statuses[status] += 1
            if status == 200:
                seen[body["version"]] += 1

    load = asyncio.create_task(traffic())
    try:
        await wait_until(lambda: statuses.total() >= 50, "traffic before the kill")
        await mesh.kill_control_process()
        await wait_until(lambda: not client.connected, "the stream to break")
        before = statuses.total()
        await asyncio.sleep(OUTAGE_LEASE_S * 3)  # the outage: three leases long
        assert statuses.total() >= before + 100, "no traffic during the outage"
        connects = client.connects
        await mesh.start_control_process(port, lease=f"{OUTAGE_LEASE_S}s")  # same data dir
        await wait_until(lambda: client.connects > connects, "a reconnect", within_s=15.0)
        await wait_until(lambda: client.applied >= 2, "a snapshot from the new control plane")
        before = statuses.total()
        await wait_until(lambda: statuses.total() >= before + 100, "traffic after the restart")
    finally:
        stop.set()
        await load
    assert set(statuses) == {200}, statuses
    assert seen["v2"] < seen["v1"], seen  # the split (in the SQLite store) held throughout
    proxies: list[dict[str, object]] = []
    for _ in range(150):  # every sidecar is back (the last one after its longest backoff)
        proxies = await mesh.proxies()
        if len(proxies) == 3 and all(p["acked_version"] is not None for p in proxies):
            break
        await asyncio.sleep(0.1)
    assert sorted(str(p["service"]) for p in proxies) == ["productpage", "reviews", "reviews"]
    assert all(p["acked_version"] is not None and p["nack"] is None for p in proxies)
    assert endpoint_ports(page, "reviews|v2") == [inbound_port(v2)]


async def test_a_killed_sidecar_process_leaves_the_endpoints_within_the_lease(
    mesh: Bookinfo,
) -> None:
    lease_s = 1.5
    await mesh.start_control(lease_s=lease_s)
    assert mesh.control is not None
    await mesh.app("ratings")
    # The file has what the command line does not give: the pings, within the short lease.
    raw = msgspec.to_builtins(mesh.config("ratings"))
    raw["control_plane"] = {"ping_s": lease_s / 5, "snapshot_file": "state/ratings.json"}
    (mesh.directory / "ratings.yaml").write_bytes(msgspec.yaml.encode(raw))
    token = TokenAuthority.load_or_create(mesh.data_dir, "cluster.local").issue(
        "default", "ratings", 600, time.time()
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controlplane.cli", "sidecar",
        "--config", str(mesh.directory / "ratings.yaml"),
        "--control-plane", mesh.url, "--token", token,
        "--ca-file", str(mesh.data_dir / "ca" / "ca.pem"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        registry = mesh.control.registry
        await wait_until(lambda: bool(registry.endpoints("ratings", "default")), "registration")
        # Alive, it stays well past the lease: the stream's pings renew it.
        await asyncio.sleep(lease_s * 2)
        assert registry.endpoints("ratings", "default")
        process.kill()
        killed = time.monotonic()
        await wait_until(lambda: not registry.instances("ratings"), "the lease", within_s=5.0)
        gone_after = time.monotonic() - killed
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    # The lease passes, then the next sweep (every lease / 3) drops it.
    assert gone_after <= lease_s * 4 / 3 + 0.5, gone_after
