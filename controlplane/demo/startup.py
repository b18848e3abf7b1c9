"""Starting the demo's parts in order, each waited for before the next needs it: collector,
control plane, the mesh-wide resources, the shop's apps and sidecars, the scenario."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import sys
from pathlib import Path

import aiohttp
from rich.console import Console

from controlplane.demo import scenarios, shop
from controlplane.demo.live import DemoPorts
from controlplane.demo.procs import Processes, ProcessFailed, wait_http

GLASSMESH = [sys.executable, "-m", "controlplane.cli"]


def collector_yaml(ports: DemoPorts) -> str:
    """The collector's config: the demo's ports; for the live view, graph windows from 5 s and
    latency buckets from 2 ms (the shop's calls take milliseconds)."""
    return f"""receivers:
  otlp:
    http: {{endpoint: 127.0.0.1:{ports.otlp_http}}}
    grpc: {{endpoint: 127.0.0.1:{ports.otlp_grpc}}}
exporters:
  prometheus: {{endpoint: 127.0.0.1:{ports.metrics}}}
query: {{endpoint: 127.0.0.1:{ports.query}}}
connectors:
  servicegraph:
    graph_slot_s: 5
    histogram_buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
"""


async def _start_collector(procs: Processes, work: Path, ports: DemoPorts) -> None:
    (work / "collector.yaml").write_text(collector_yaml(ports))
    argv = [*GLASSMESH, "collector", "--data-dir", "collector", "--config", "collector.yaml"]
    await procs.start("collector", argv, work)
    await wait_http(f"http://127.0.0.1:{ports.query}/api/services", procs)


async def _start_control_plane(procs: Processes, work: Path, ports: DemoPorts) -> None:
    argv = [*GLASSMESH, "controlplane", "--data-dir", "cp",
            "--listen", f"127.0.0.1:{ports.control_plane}",
            "--metrics-listen", f"127.0.0.1:{ports.control_plane_metrics}"]  # fmt: skip
    await procs.start("controlplane", argv, work)
    readonly = work / "cp" / "readonly-token"
    async with asyncio.timeout(30):
        while not readonly.exists():
            procs.check()
            await asyncio.sleep(0.1)
        context = ssl.create_default_context(cafile=work / "cp" / "ca" / "ca.pem")
        headers = {"Authorization": f"Bearer {readonly.read_text().strip()}"}
        url = f"https://127.0.0.1:{ports.control_plane}/api/v1/proxies"
        async with aiohttp.ClientSession() as session:
            while True:
                procs.check()
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(url, headers=headers, ssl=context) as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)


async def _start_shop(procs: Processes, work: Path, ports: DemoPorts) -> list[shop.Workload]:
    if not (shop.APPS_DIR / "frontend.py").exists():  # deploy/ is not in a wheel
        raise ProcessFailed(f"the shop's apps are not in {shop.APPS_DIR}: run from a checkout")
    workloads = shop.workloads()
    cp_url = f"https://127.0.0.1:{ports.control_plane}"
    otlp = f"http://127.0.0.1:{ports.otlp_http}"
    shop.write_sidecar_files(work, work / "cp", cp_url, otlp, workloads)
    for w in workloads:
        env = {**os.environ, "HTTP_PROXY": w.proxy, "http_proxy": w.proxy, "NO_PROXY": ""}
        env.pop("no_proxy", None)
        await procs.start(f"{w.service}-app", [sys.executable, *w.app_argv], work, env)
        await procs.start(f"{w.service}-sidecar", [*GLASSMESH, "sidecar", "--config",
                                                   f"{w.service}.yaml"], work)  # fmt: skip
    for w in workloads:
        await wait_http(f"http://127.0.0.1:{w.admin_port}/ready", procs)
    return workloads


async def _shop_answers(procs: Processes, entry: str, timeout_s: float = 60.0) -> None:
    """Wait until a page and a checkout both succeed through the frontend's sidecar: routes to
    every service pushed, every sidecar's app ready, plaintext allowed at the entry."""
    async with aiohttp.ClientSession() as session, asyncio.timeout(timeout_s):
        for method, path in (("GET", "/"), ("POST", "/checkout")):
            while True:
                procs.check()
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.request(
                        method, entry + path, timeout=aiohttp.ClientTimeout(total=5)
                    ) as resp:
                        if resp.status == 200:
                            break
                await asyncio.sleep(0.2)


async def start_all(
    procs: Processes, work: Path, ports: DemoPorts, scenario: str | None, console: Console
) -> str:
    """Start everything; returns the shop's entry URL (the frontend's sidecar, inbound)."""
    with console.status("starting the collector") as status:
        await _start_collector(procs, work, ports)
        console.print(f"[green]✓[/] collector (OTLP :{ports.otlp_http}, API :{ports.query})")
        status.update("starting the control plane")
        await _start_control_plane(procs, work, ports)
        cp_url = f"https://127.0.0.1:{ports.control_plane}"
        await scenarios.apply(cp_url, work / "cp", scenarios.BASE)
        console.print(f"[green]✓[/] control plane :{ports.control_plane} (100% trace sampling)")
        status.update(f"starting the shop: {len(shop.SERVICES)} apps, each behind a sidecar")
        workloads = await _start_shop(procs, work, ports)
        entry = f"http://127.0.0.1:{workloads[0].inbound_port}"
        await _shop_answers(procs, entry)
        console.print(f"[green]✓[/] shop: {', '.join(shop.SERVICES)} (mTLS between sidecars)")
        if scenario is not None:
            status.update(f"applying scenario {scenario}")
            what, resources = scenarios.SCENARIOS[scenario]
            await scenarios.apply(cp_url, work / "cp", resources)
            console.print(f"[green]✓[/] scenario {scenario}: {what}")
    return entry
