"""The shop's cart: ``GET /cart/{user}`` answers what the user is about to buy."""

from __future__ import annotations

import asyncio

from aiohttp import web
from shopkit import main

routes = web.RouteTableDef()


@routes.get("/cart/{user}")
async def cart(request: web.Request) -> web.Response:
    await asyncio.sleep(0.002)  # a session store read
    return web.json_response(
        {"lines": [{"sku": "mug", "quantity": 2}, {"sku": "cap", "quantity": 1}]}
    )


if __name__ == "__main__":
    main("cart", routes, 9082)
