"""The demo's sample service: a small HTTP app that says who called it.

``GET /reviews/<id>`` answers JSON with the caller's identity as the sidecar passed it on
(``x-forwarded-client-cert``) and the request id; ``GET /healthz`` answers 200. Run it with
``python -m controlplane.demo.sampleapp --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal

from aiohttp import web

_URI = re.compile(r"URI=([^;,]+)")


def make_app(name: str) -> web.Application:
    """The sample app; ``name`` is the service it plays."""

    async def review(request: web.Request) -> web.Response:
        xfcc = request.headers.get("x-forwarded-client-cert", "")
        caller = _URI.search(xfcc)
        return web.json_response(
            {
                "service": name,
                "review": request.match_info["id"],
                "stars": 1 + int(request.match_info["id"]) % 5,
                "caller": caller.group(1) if caller else None,
                "request_id": request.headers.get("x-request-id"),
            }
        )

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get(r"/reviews/{id:\d+}", review)
    app.router.add_get("/healthz", healthz)
    return app


async def serve(name: str, host: str, port: int) -> None:
    """Serve the sample app until cancelled."""
    runner = web.AppRunner(make_app(name), access_log=None)
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
    args = parser.parse_args()
    asyncio.run(serve(args.name, args.host, args.port))


if __name__ == "__main__":
    main()
