"""What the demo shows once it runs: where everything is, and a live view of the traffic.

The live view reads the collector's graph API over HTTP, as ``glassmesh top`` does, and adds the
load generator's own counts; it also notices a child that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from controlplane.commands.views import top_view
from controlplane.demo.loadgen import LoadGenerator
from controlplane.demo.procs import Processes, free_port, port_or_free

REFRESH_S = 2.0
WINDOW = "10s"  # two of the demo collector's 5 s slots: recent, and not too jumpy


@dataclass(frozen=True)
class DemoPorts:
    """The ports of the parts users reach; the defaults when free (collector 16686/4318/4317/
    8889, control plane 15012/15014), else free ones."""

    query: int
    otlp_http: int
    otlp_grpc: int
    metrics: int
    control_plane: int
    control_plane_metrics: int

    @classmethod
    def pick(cls, defaults: bool = True) -> DemoPorts:
        """The defaults where free (``defaults``), else free ports."""
        wanted = (16686, 4318, 4317, 8889, 15012, 15014)
        return cls(*(port_or_free(p) if defaults else free_port() for p in wanted))


def show_urls(console: Console, ports: DemoPorts, entry: str, work: Path) -> None:
    """Print where the UI, the APIs and the shop are, and how to look at them."""
    query = f"http://127.0.0.1:{ports.query}"
    table = Table.grid(padding=(0, 2))
    rows = [
        ("UI", f"{query}/"),
        ("Jaeger API", f"{query}/api/services"),
        ("graph API", f"{query}/api/graph"),
        ("Prometheus", f"http://127.0.0.1:{ports.metrics}/metrics"),
        ("OTLP/HTTP", f"http://127.0.0.1:{ports.otlp_http}"),
        ("control plane", f"https://127.0.0.1:{ports.control_plane}"
                          f" (admin token {work / 'cp' / 'admin-token'})"),
        ("control plane metrics", f"http://127.0.0.1:{ports.control_plane_metrics}/metrics"),
        ("shop", f"{entry}/  (curl it: the frontend's sidecar)"),
    ]  # fmt: skip
    for name, url in rows:
        table.add_row(Text(name, style="bold"), url)
    console.print(table)
    console.print(
        f"try: GLASSMESH_COLLECTOR={query} glassmesh top | glassmesh graph | glassmesh analyze"
    )
    console.file.flush()


async def _graph(session: aiohttp.ClientSession, query_port: int) -> dict[str, Any] | None:
    url = f"http://127.0.0.1:{query_port}/api/graph?window={WINDOW}"
    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, ValueError):
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
            if resp.status == 200:
                graph: dict[str, Any] = await resp.json()
                return graph
    return None


def _view(graph: dict[str, Any] | None, load: LoadGenerator, elapsed_s: float) -> Group:
    c = load.counts
    line = Text.from_markup(
        f"[bold]load[/] {load.rate:g} req/s for {elapsed_s:.0f}s: {c.sent} sent, "
        f"[green]{c.ok} ok[/], [red]{c.failed} failed[/], {c.skipped} skipped   (Ctrl-C stops)"
    )
    if graph is None:
        return Group(line, Text("waiting for the collector's graph API ..."))
    return Group(line, top_view(graph))


async def watch(
    console: Console,
    ports: DemoPorts,
    load: LoadGenerator,
    procs: Processes,
    duration_s: float | None,
) -> None:
    """Refresh the live view every 2 s until ``duration_s`` passes (forever when None); raises
    ProcessFailed when a child exits."""
    start = time.monotonic()
    end = None if duration_s is None else start + duration_s
    async with aiohttp.ClientSession() as session:
        graph = None
        with Live(_view(graph, load, 0.0), console=console, refresh_per_second=2) as live:
            while end is None or time.monotonic() < end:
                left = REFRESH_S if end is None else min(REFRESH_S, end - time.monotonic())
                await asyncio.sleep(max(0.0, left))
                procs.check()
                graph = await _graph(session, ports.query) or graph
                live.update(_view(graph, load, time.monotonic() - start))
