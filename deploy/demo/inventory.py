"""The shop's inventory: ``POST /reservations`` holds stock for an order's lines."""

from __future__ import annotations

import asyncio
import itertools

from aiohttp import web
from shopkit import main

routes = web.RouteTableDef()
_RESERVATION_IDS = itertools.count(1)


@routes.post("/reservations")
async def reservations(request: web.Request) -> web.Response:
    body = await request.json()
    await asyncio.sleep(0.003)  # a stock table update
    lines = body.get("lines", [])
    return web.json_response({"id": f"r-{next(_RESERVATION_IDS)}", "lines": len(lines)})


if __name__ == "__main__":
    main("inventory", routes, 9085)
