"""The admin API (127.0.0.1 only): readiness, effective config, clusters and counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

if TYPE_CHECKING:
    from sidecar.server import Sidecar


def make_app(sidecar: Sidecar) -> web.Application:
    """An aiohttp application serving the admin endpoints of ``sidecar``."""

    async def ready(_: web.Request) -> web.Response:
        if sidecar.ready:
            return web.Response(text="LIVE\n")
        return web.Response(status=503, text="DRAINING\n" if sidecar.draining else "STARTING\n")

    async def config_dump(_: web.Request) -> web.Response:
        body = msgspec.json.encode({"config": sidecar.config, "bound": sidecar.bound_addresses()})
        return web.Response(body=msgspec.json.format(body), content_type="application/json")

    async def clusters(_: web.Request) -> web.Response:
        body = msgspec.json.encode({"clusters": [c.as_dict() for c in sidecar.all_clusters()]})
        return web.Response(body=msgspec.json.format(body), content_type="application/json")

    async def prometheus(_: web.Request) -> web.Response:
        lines: list[str] = []
        for ctx in sidecar.listener_contexts():
            lines += ctx.stats.prometheus()
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    app = web.Application()
    app.router.add_get("/ready", ready)
    app.router.add_get("/config_dump", config_dump)
    app.router.add_get("/clusters", clusters)
    app.router.add_get("/stats/prometheus", prometheus)
    return app
