"""The admin API: readiness, effective config, clusters and counters.

It listens on loopback by default. With a token configured every endpoint but ``/ready`` (which
probes must reach) asks for ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

if TYPE_CHECKING:
    from sidecar.server import Sidecar


OPEN_PATHS = frozenset({"/ready"})


def bearer_middleware(token: bytes) -> Middleware:
    """A middleware answering 401 (and nothing more) unless the request carries ``token``."""
    expected = b"Bearer " + token

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in OPEN_PATHS:
            given = request.headers.get("Authorization", "").encode("latin-1", "replace")
            if not hmac.compare_digest(given, expected):
                return web.Response(status=401, text="unauthorized\n")
        return await handler(request)

    return check


def make_app(sidecar: Sidecar, token: bytes | None = None) -> web.Application:
    """An aiohttp application serving the admin endpoints of ``sidecar``, behind ``token`` if
    one is given."""

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
        lines += sidecar.prometheus_lines()
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    app = web.Application(middlewares=[bearer_middleware(token)] if token else [])
    app.router.add_get("/ready", ready)
    app.router.add_get("/config_dump", config_dump)
    app.router.add_get("/clusters", clusters)
    app.router.add_get("/stats/prometheus", prometheus)
    return app
