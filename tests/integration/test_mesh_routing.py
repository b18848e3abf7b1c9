"""Routing from the control plane, end to end: real sidecars register, get their config over the
stream, split traffic as an HTTPRoute says, refuse config they cannot apply, follow their apps'
readiness, and start on their saved config when the control plane is down."""

from __future__ import annotations

import asyncio
import collections

from controlplane.demo.sampleapp import HEALTHY
from sidecar.server import Sidecar
from tests.integration.bookinfo import (
    SPLIT,
    Bookinfo,
    bookinfo_mesh,  # noqa: F401 (the mesh fixture)
    endpoint_ports,
    inbound_port,
    wait_until,
)


async def versions(mesh: Bookinfo, via: Sidecar, requests: int) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for _ in range(requests):
        status, body = await mesh.call(via)
        counts[body["version"] if status == 200 else f"HTTP {status}"] += 1
    return counts


async def split_mesh(mesh: Bookinfo) -> Sidecar:
    """reviews v1 and v2 and productpage, with the 90/10 split applied; returns productpage."""
    await mesh.start_control()
    await mesh.start("reviews", "v1")
    await mesh.start("reviews", "v2")
    page = await mesh.start("productpage")
    await mesh.apply(SPLIT)
    return page


async def test_an_httproute_splits_traffic_90_10_between_two_versions(mesh: Bookinfo) -> None:
    await mesh.start_control()
    v1 = await mesh.start("reviews", "v1")
    v2 = await mesh.start("reviews", "v2")
    page = await mesh.start("productpage")
    both = sorted([inbound_port(v1), inbound_port(v2)])
    await wait_until(lambda: sorted(endpoint_ports(page, "reviews")) == both, "both endpoints")
    assert (await versions(mesh, page, 40)) == {"v1": 20, "v2": 20}  # round robin, no route

    await mesh.apply(SPLIT)
    await wait_until(lambda: endpoint_ports(page, "reviews|v2") == [inbound_port(v2)], "subsets")
    counts = await versions(mesh, page, 600)
    # 600 draws at p = 0.1: 60 expected, sd 7.3; outside [25, 100] has odds below 1e-6.
    assert counts["v1"] + counts["v2"] == 600, counts
    assert 25 <= counts["v2"] <= 100, counts
    acked = {p["service"]: p["acked_version"] for p in await mesh.proxies()}
    assert set(acked) == {"reviews", "productpage"} and None not in acked.values()


async def test_config_the_sidecar_cannot_apply_is_nacked_and_the_last_good_one_kept(
    mesh: Bookinfo,
) -> None:
    page = await split_mesh(mesh)
    await wait_until(lambda: len(endpoint_ports(page, "reviews|v1")) == 1, "the split")
    # A prefix rewrite on an Exact match: the control plane takes it, the sidecars cannot honour it.
    rewrite = {**SPLIT[0], "metadata": {"name": "reviews-rewrite"}}
    rewrite["spec"] = {
        "parentRefs": [{"name": "reviews"}],
        "rules": [
            {
                "matches": [{"path": {"type": "Exact", "value": "/reviews/1"}}],
                "filters": [
                    {
                        "type": "URLRewrite",
                        "urlRewrite": {
                            "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/x"}
                        },
                    }
                ],
                "backendRefs": [{"name": "reviews", "port": 9080, "subset": "v2"}],
            }
        ],
    }
    await mesh.apply(rewrite)
    nacks: list[str] = []

    async def nacked() -> bool:
        nacks[:] = [p["nack"] for p in await mesh.proxies() if p["nack"]]
        return len(nacks) == 3

    for _ in range(250):
        if await nacked():
            break
        await asyncio.sleep(0.02)
    assert nacks and all(
        "ReplacePrefixMatch" in n and "default/reviews-rewrite" in n for n in nacks
    )
    counts = await versions(mesh, page, 200)  # still the split, not the refused route
    assert counts["v1"] + counts["v2"] == 200 and counts["v2"] < 60, counts


async def test_an_app_failing_its_readiness_probe_leaves_the_load_balancing_set(
    mesh: Bookinfo,
) -> None:
    await mesh.start_control()
    v1 = await mesh.start("reviews", "v1")
    v2 = await mesh.start("reviews", "v2")
    page = await mesh.start("productpage")
    await wait_until(lambda: len(endpoint_ports(page, "reviews")) == 2, "both endpoints")

    mesh.apps["reviews-v2"].app[HEALTHY][0] = False
    await wait_until(lambda: endpoint_ports(page, "reviews") == [inbound_port(v1)], "v2 to leave")
    assert (await versions(mesh, page, 20)) == {"v1": 20}

    mesh.apps["reviews-v2"].app[HEALTHY][0] = True
    await wait_until(lambda: len(endpoint_ports(page, "reviews")) == 2, "v2 to come back")
    assert inbound_port(v2) in endpoint_ports(page, "reviews")


async def test_a_sidecar_restarted_while_the_control_plane_is_down_serves_its_saved_config(
    mesh: Bookinfo,
) -> None:
    page = await split_mesh(mesh)
    await wait_until(lambda: len(endpoint_ports(page, "reviews|v2")) == 1, "the split")
    config = page.config
    await page.shutdown()
    await mesh.stop_control()

    restarted = await mesh.sidecar(config)  # same state files; nothing answers at the URL
    assert restarted.ready
    assert restarted.link is not None and restarted.link.agent.current is not None
    counts = await versions(mesh, restarted, 200)
    assert counts["v1"] + counts["v2"] == 200 and 0 < counts["v2"] < 60, counts
    assert restarted.link.client.connected is False
