"""A small shop run by the real parts, in-process, for the UI tests: a collector, a control plane
and four services each behind its own sidecar (mTLS, 100% sampling, access logs over OTLP).

``productpage``'s sidecar is the way in (its outbound listener, Host ``frontend``); ``frontend``
is an app that calls ``reviews`` and then ``ratings`` through its own sidecar and forwards the
trace context, so each request is one trace of six spans over three edges. Every fourth call to
``ratings`` asks for a 500, so one edge of the graph is failing by Kiali's thresholds; every
fifth goes without the trace context and ``frontend`` starts no trace of its own, so the edge's
trace coverage drops below 100% as it does where an app does not propagate context.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

from collector.service import Collector
from controlplane.api.telemetry import TelemetryConfig
from sidecar.server import Sidecar
from tests.integration.bookinfo import Bookinfo, endpoint_ports, wait_until
from tests.integration.collector.conftest import collector_config
from tests.integration.mesh import bound

TRACE_HEADERS = ("traceparent", "tracestate", "x-request-id")
OUTBOUND = web.AppKey("outbound", list[tuple[str, int]])
SESSION = web.AppKey("session", aiohttp.ClientSession)
ANALYSIS = {"connectors__analysis": {"idle_s": 0.3}}  # a trace is complete after 0.3 s quiet


def frontend_app() -> web.Application:
    """``GET /product/<n>``: reviews then ratings via the sidecar, forwarding the trace context
    except to ratings for every fifth n; ratings answers 500 for every fourth n."""

    async def product(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        host, port = request.app[OUTBOUND][0]
        headers = {k: v for k in TRACE_HEADERS if (v := request.headers.get(k))}
        got = {}
        stars = "/echo/stars?status=500" if n % 4 == 0 else "/echo/stars"
        for service, path in (("reviews", f"/reviews/{n}"), ("ratings", stars)):
            url = f"http://{host}:{port}{path}"
            sent = {} if service == "ratings" and n % 5 == 0 else headers  # context lost
            async with request.app[SESSION].get(url, headers={**sent, "Host": service}) as r:
                got[service] = r.status
        return web.json_response(got)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def session(app: web.Application) -> AsyncIterator[None]:
        app[SESSION] = aiohttp.ClientSession()
        yield
        await app[SESSION].close()

    app = web.Application()
    app[OUTBOUND] = []
    app.router.add_get(r"/product/{n:\d+}", product)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(session)
    return app


def _knows(sidecar: Sidecar, target: str) -> bool:
    return len(endpoint_ports(sidecar, target)) == 1


@dataclass
class Shop:
    """The running shop: its collector (UI on ``ui_url``) and the way in."""

    mesh: Bookinfo
    collector: Collector
    entry: Sidecar

    @property
    def ui_url(self) -> str:
        return self.collector.url("query")

    async def traffic(self, requests: int, user_agent: str = "shop-test") -> list[int]:
        """``requests`` calls to frontend through productpage's sidecar; their statuses."""
        host, port = bound(self.entry, "outbound")
        headers = {"Host": "frontend", "User-Agent": user_agent}
        statuses = []
        for n in range(1, requests + 1):
            url = f"http://{host}:{port}/product/{n}"
            async with self.mesh.session.get(url, headers=headers) as resp:
                statuses.append(resp.status)
        return statuses

    async def status(self, path: str) -> int:
        async with self.mesh.session.get(self.ui_url + path) as resp:
            return resp.status

    async def get(self, path: str) -> Any:
        async with self.mesh.session.get(self.ui_url + path) as resp:
            assert resp.status == 200, (path, resp.status, await resp.text())
            return await resp.json()


async def _frontend(mesh: Bookinfo) -> web.Application:
    app = frontend_app()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    mesh.apps["frontend-v1"] = runner
    return app


async def start_shop(mesh: Bookinfo, collector: Collector) -> Shop:
    telemetry = TelemetryConfig(
        otlp_endpoint=collector.url("otlp_http"),
        sampling_percent=100.0,
        flush_interval_s=0.05,
        metrics_interval_s=0.5,
        access_log_otlp=True,
    )
    await mesh.start_control()
    for name in ("reviews", "ratings", "productpage"):
        await mesh.app(name)
    front = await _frontend(mesh)
    # frontend samples no trace of its own: a call it makes without context is not traced
    own = {"frontend": msgspec.structs.replace(telemetry, sampling_percent=0.0)}
    sidecars = {
        name: await mesh.sidecar(mesh.config(name, telemetry=own.get(name, telemetry)))
        for name in ("reviews", "ratings", "frontend", "productpage")
    }
    front[OUTBOUND].append(bound(sidecars["frontend"], "outbound"))
    for via, target in (("productpage", "frontend"), ("frontend", "reviews"),
                        ("frontend", "ratings")):  # fmt: skip
        await wait_until(partial(_knows, sidecars[via], target), f"{via} to know {target}")
    return Shop(mesh, collector, sidecars["productpage"])


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[Shop]:
    """The shop, started; everything stopped after the test, sidecars before the collector."""
    collector = Collector(collector_config(**ANALYSIS), tmp_path / "collector")
    await collector.start()
    try:
        async with aiohttp.ClientSession() as session:
            mesh = Bookinfo(tmp_path, session)
            try:
                yield await start_shop(mesh, collector)
            finally:
                await mesh.close()
    finally:
        await collector.shutdown()


async def until(check: Any, what: str, within_s: float = 20.0) -> Any:
    """Awaits ``check()`` every 200 ms until it returns something truthy; fails naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        found = await check()
        if found:
            return found
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)
