"""The shop's frontend: the home page (catalog and cart) and checkout (cart, then checkout).

``GET /`` lists the catalog and the visitor's cart; ``POST /checkout`` places the cart's order.
Run with ``python frontend.py --port 9080`` and ``HTTP_PROXY`` set to its sidecar."""

from __future__ import annotations

import asyncio

from aiohttp import web
from shopkit import call, main

routes = web.RouteTableDef()


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    user = request.query.get("user", "u1")
    items, cart = await asyncio.gather(
        call(request, "GET", "http://catalog/items"),
        call(request, "GET", f"http://cart/cart/{user}"),
    )
    return web.json_response({"items": items["items"], "cart": cart})


@routes.post("/checkout")
async def checkout(request: web.Request) -> web.Response:
    user = request.query.get("user", "u1")
    cart = await call(request, "GET", f"http://cart/cart/{user}")
    order = await call(request, "POST", "http://checkout/orders", {"user": user, **cart})
    return web.json_response(order)


if __name__ == "__main__":
    main("frontend", routes, 9080)
