"""The demo's sample service: a small HTTP app that says who called it.

``GET /reviews/<id>`` answers JSON with the app's version, the caller's identity as the sidecar
passed it on (``x-forwarded-client-cert``) and the request id; ``/echo...`` answers with the
method, path, host, headers and body size it received (after ``delay_ms`` milliseconds, and
with the HTTP ``status``, if asked). ``GET /healthz`` answers 200, or 503
after ``POST /healthz/fail`` (until ``POST /healthz/ok``), to show a readiness probe at work. Run it
with ``python -m controlplane.demo.sampleapp --port N [--version v2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal

from aiohttp import web

_URI = re.compile(r"URI=([^;,]+)")


HEALTHY = web.AppKey("healthy", list[bool])


def make_app(name: str, version: str = "v1") -> web.Application:
    """The sample app; ``name`` is the service it plays, ``version`` the version."""

    async def review(request: web.Request) -> web.Response:
        xfcc = request.headers.get("x-forwarded-client-cert", "")
        caller = _URI.search(xfcc)
        return web.json_response(
            {
                "service": name,
                "version": version,
                "review": request.match_info["id"],
                "stars": 1 + int(request.match_info["id"]) % 5,
                "caller": caller.group(1) if caller else None,
                "request_id": request.headers.get("x-request-id"),
            }
        )

    async def healthz(request: web.Request) -> web.Response:
        if request.app[HEALTHY][0]:
            return web.Response(text="ok\n")
        return web.Response(status=503, text="failing (POST /healthz/ok to recover)\n")

    async def set_health(request: web.Request) -> web.Response:
        request.app[HEALTHY][0] = request.match_info["state"] == "ok"
        return web.Response(text=f"{request.match_info['state']}\n")

    async def echo(request: web.Request) -> web.Response:
        delay_ms = request.query.get("delay_ms", "")
        if delay_ms.isdigit():  # a slow answer, for timeouts and circuit breakers (at most 10 s)
            await asyncio.sleep(min(int(delay_ms), 10_000) / 1000)
        status = request.query.get("status", "200")
        body = await request.read()
        return web.json_response(
            {
                "service": name,
                "version": version,
                "method": request.method,
                "path": request.path_qs,
                "host": request.host,
                "headers": dict(request.headers),
                "body_bytes": len(body),
            },
            status=int(status) if status.isdigit() and 200 <= int(status) <= 599 else 200,
        )

    app = web.Application()
    app[HEALTHY] = [True]
    app.router.add_route("*", r"/echo{tail:.*}", echo)
    app.router.add_get(r"/reviews/{id:\d+}", review)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/healthz/{state:ok|fail}", set_health)
    return app


async def serve(name: str, host: str, port: int, version: str = "v1") -> None:
    """Serve the sample app until SIGTERM."""
    runner = web.AppRunner(make_app(name, version), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="reviews")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", default="v1")
    args = parser.parse_args()
    asyncio.run(serve(args.name, args.host, args.port, args.version))


if __name__ == "__main__":
    main()
