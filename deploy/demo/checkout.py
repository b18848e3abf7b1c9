"""The shop's checkout: ``POST /orders`` reserves the stock (inventory), then charges the user
(payments); an order is placed only when both succeed."""

from __future__ import annotations

import itertools

from aiohttp import web
from shopkit import call, main

routes = web.RouteTableDef()
_ORDER_IDS = itertools.count(1)


@routes.post("/orders")
async def orders(request: web.Request) -> web.Response:
    order = await request.json()
    lines = order.get("lines", [])
    reserved = await call(request, "POST", "http://inventory/reservations", {"lines": lines})
    charge = await call(
        request, "POST", "http://payments/charges", {"user": order.get("user"), "lines": lines}
    )
    return web.json_response(
        {"order": next(_ORDER_IDS), "reservation": reserved["id"], "charge": charge["id"]}
    )


if __name__ == "__main__":
    main("checkout", routes, 9083)
