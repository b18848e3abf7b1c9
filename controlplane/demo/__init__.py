"""``glassmesh demo``: a sidecar pair in front of a sample app on 127.0.0.1, real traffic through
it, and what happened, printed.

The caller plays the ``productpage`` workload: it sends its requests to its own sidecar as to an
HTTP proxy; that sidecar routes them by host to the ``reviews`` cluster, over mutual TLS, to the
``reviews`` sidecar, which hands them to the sample app with the caller's verified identity.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.table import Table

from controlplane.ca import load_or_create_root, write_workload
from controlplane.demo.procs import Processes, free_port, wait_http

TRUST_DOMAIN = "cluster.local"
CALLER_ID = f"spiffe://{TRUST_DOMAIN}/ns/default/sa/productpage"
SERVER_ID = f"spiffe://{TRUST_DOMAIN}/ns/default/sa/reviews"


def _sidecar_yaml(
    service: str, identity: str, app_port: int, ports: dict[str, int], clusters: str
) -> str:
    return f"""service: {service}
identity: {identity}
app: {{address: 127.0.0.1, port: {app_port}}}
tls: {{cert: {service}.pem, key: {service}-key.pem, ca_bundle: ca.pem}}
listeners:
  outbound: {{address: 127.0.0.1, port: {ports["outbound"]}}}
  inbound: {{address: 127.0.0.1, port: {ports["inbound"]}}}
  admin: {{address: 127.0.0.1, port: {ports["admin"]}}}
timeouts: {{drain_s: 3}}
{clusters}"""


def _write_configs(work: Path) -> dict[str, dict[str, int]]:
    """Certificates and both sidecar configs; returns the ports of each part."""
    ca = load_or_create_root(work, TRUST_DOMAIN)
    write_workload(ca, CALLER_ID, work, "productpage")
    write_workload(ca, SERVER_ID, work, "reviews")
    ports = {
        name: {"outbound": free_port(), "inbound": free_port(), "admin": free_port()}
        for name in ("productpage", "reviews")
    }
    app_port = free_port()
    ports["app"] = {"http": app_port}
    clusters = f"""clusters:
  - name: reviews
    hosts: [reviews.default.svc.cluster.local]
    identity: {SERVER_ID}
    endpoints: [{{address: 127.0.0.1, port: {ports["reviews"]["inbound"]}}}]
"""
    (work / "productpage.yaml").write_text(
        _sidecar_yaml("productpage", CALLER_ID, 1, ports["productpage"], clusters)
    )
    (work / "reviews.yaml").write_text(
        _sidecar_yaml("reviews", SERVER_ID, app_port, ports["reviews"], "")
    )
    return ports


async def _send(requests: int, proxy: str, console: Console) -> None:
    table = Table(title=f"{requests} requests: productpage -> reviews, through the sidecar pair")
    for column in ("request", "status", "ms", "caller seen by reviews", "x-request-id"):
        table.add_column(column, no_wrap=True)
    async with aiohttp.ClientSession() as session:
        for i in range(requests):
            url = f"http://reviews/reviews/{i}"
            start = time.perf_counter()
            async with session.get(url, proxy=proxy) as resp:
                body = await resp.json()
            ms = (time.perf_counter() - start) * 1000
            caller = str(body["caller"]).removeprefix(f"spiffe://{TRUST_DOMAIN}/")
            table.add_row(
                f"GET /reviews/{i}", str(resp.status), f"{ms:.1f}",
                caller, str(body["request_id"])[:8] + "…",
            )  # fmt: skip
        async with session.get("http://ratings/x", proxy=proxy) as resp:
            flags = resp.headers.get("x-glassmesh-flags")
            table.add_row("GET http://ratings/x", str(resp.status), "", "(unknown host)",
                          f"flags: {flags}")  # fmt: skip
    console.print(table)


async def _smuggle(port: int, console: Console) -> None:
    """A request-smuggling attempt (Content-Length with Transfer-Encoding) must get 400."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /reviews/1 HTTP/1.1\r\nHost: reviews\r\nContent-Length: 6\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n"
    )
    response = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    status_line = response.split(b"\r\n", 1)[0].decode("latin-1")
    console.print(f"smuggling attempt (Content-Length + Transfer-Encoding): [bold]{status_line}[/]")


async def _show_clusters(admin_port: int, console: Console) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{admin_port}/clusters") as resp,
    ):
        data = await resp.json()
    for cluster in data["clusters"]:
        for ep in cluster["endpoints"]:
            if not ep["rq_total"]:
                continue
            console.print(
                f"cluster {cluster['name']} ({cluster['tls']}) {ep['address']}: "
                f"{ep['rq_total']} requests over {ep['cx_total']} connection(s)"
            )


async def _demo(requests: int, work: Path, console: Console) -> int:
    ports = _write_configs(work)
    async with Processes() as procs:
        app_port = ports["app"]["http"]
        app = [sys.executable, "-m", "controlplane.demo.sampleapp", "--port", str(app_port)]
        await procs.start("reviews-app", app, work)
        for name in ("reviews", "productpage"):
            sidecar = [
                sys.executable,
                "-m",
                "controlplane.cli",
                "sidecar",
                "--config",
                f"{name}.yaml",
            ]
            await procs.start(f"{name}-sidecar", sidecar, work)
        await wait_http(f"http://127.0.0.1:{app_port}/healthz", procs)
        for name in ("reviews", "productpage"):
            await wait_http(f"http://127.0.0.1:{ports[name]['admin']}/ready", procs)
        console.print(f"[green]up:[/] reviews app :{app_port}, sidecars (mTLS between them)")
        proxy = f"http://127.0.0.1:{ports['productpage']['outbound']}"
        await _send(requests, proxy, console)
        await _smuggle(ports["productpage"]["outbound"], console)
        await _show_clusters(ports["productpage"]["admin"], console)
        codes = await procs.stop_all()
    console.print(f"sidecars stopped with SIGTERM, exit codes: {codes}")
    return 0 if all(code == 0 for code in codes.values()) else 1


def run_demo(requests: int = 20) -> int:
    """Run the demo; returns the process exit code."""
    console = Console()
    with tempfile.TemporaryDirectory(prefix="glassmesh-demo-") as tmp:
        return asyncio.run(_demo(requests, Path(tmp), console))
