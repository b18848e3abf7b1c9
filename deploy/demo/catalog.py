"""The shop's catalog: ``GET /items`` lists what is for sale, ``GET /items/{sku}`` one item."""

from __future__ import annotations

import asyncio

from aiohttp import web
from shopkit import main

ITEMS = [
    {"sku": "mug", "name": "Mesh mug", "price_cents": 1200},
    {"sku": "tee", "name": "Sidecar tee", "price_cents": 2500},
    {"sku": "cap", "name": "Trace cap", "price_cents": 1800},
]
routes = web.RouteTableDef()


@routes.get("/items")
async def items(request: web.Request) -> web.Response:
    await asyncio.sleep(0.004)  # a lookup
    return web.json_response({"items": ITEMS})


@routes.get("/items/{sku}")
async def item(request: web.Request) -> web.Response:
    await asyncio.sleep(0.002)
    for found in ITEMS:
        if found["sku"] == request.match_info["sku"]:
            return web.json_response(found)
    return web.json_response({"error": "no such item"}, status=404)


if __name__ == "__main__":
    main("catalog", routes, 9081)
