"""What every shop service shares: trace headers passed on, downstream calls through the
sidecar, and serving until SIGTERM.

The shop's services are plain aiohttp apps that know nothing of the mesh but two conventions every
meshed app keeps: call other services by name (``http://catalog/...``) through the HTTP proxy in
``HTTP_PROXY`` (the sidecar's outbound listener), and copy the trace headers of the request being
served onto the calls made for it, so the sidecars' spans join into one trace.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

# W3C trace context, B3 (single and multi header) and Envoy's request id.
PROPAGATED = (
    "traceparent",
    "tracestate",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-request-id",
)
SESSION = web.AppKey("session", ClientSession)
TIMEOUT = ClientTimeout(total=10)


class DownstreamError(Exception):
    """A service this one depends on failed or did not answer; the caller gets a 502."""


def forwarded(request: web.Request) -> dict[str, str]:
    """The trace headers of ``request``, to send on every call made while serving it."""
    return {name: request.headers[name] for name in PROPAGATED if name in request.headers}


async def call(request: web.Request, method: str, url: str, body: Any = None) -> Any:
    """``method url`` through the sidecar with ``request``'s trace headers; the JSON answer.

    Raises DownstreamError when the service answers an error status or cannot be reached."""
    session = request.app[SESSION]
    try:
        async with session.request(
            method, url, json=body, headers=forwarded(request), timeout=TIMEOUT
        ) as resp:
            if resp.status >= 400:
                raise DownstreamError(f"{method} {url}: HTTP {resp.status}")
            return await resp.json(content_type=None)
    except (ClientError, TimeoutError) as exc:
        raise DownstreamError(f"{method} {url}: {exc.__class__.__name__}") from None


@web.middleware
async def _downstream_errors(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except DownstreamError as exc:
        return web.json_response({"error": str(exc)}, status=502)


def make_app(routes: web.RouteTableDef) -> web.Application:
    """An app with ``routes``, ``GET /healthz`` for the sidecar's readiness probe and a client
    session that honours HTTP_PROXY (``trust_env``)."""

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def session(app: web.Application) -> Any:
        app[SESSION] = ClientSession(trust_env=True)
        yield
        await app[SESSION].close()

    app = web.Application(middlewares=[_downstream_errors])
    app.add_routes(routes)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(session)
    return app


async def _serve(app: web.Application, host: str, port: int) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(name: str, routes: web.RouteTableDef, default_port: int) -> None:
    """Parse ``--host``/``--port`` and serve ``routes`` until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=f"the shop's {name} service")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    args = parser.parse_args()
    asyncio.run(_serve(make_app(routes), args.host, args.port))
