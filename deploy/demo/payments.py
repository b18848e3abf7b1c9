"""The shop's payments: ``POST /charges`` charges a user for an order's lines."""

from __future__ import annotations

import asyncio
import itertools

from aiohttp import web
from shopkit import main

routes = web.RouteTableDef()
_CHARGE_IDS = itertools.count(1)


@routes.post("/charges")
async def charges(request: web.Request) -> web.Response:
    body = await request.json()
    await asyncio.sleep(0.008)  # the card network
    return web.json_response({"id": f"ch-{next(_CHARGE_IDS)}", "user": body.get("user")})


if __name__ == "__main__":
    main("payments", routes, 9084)
