"""Serving the UI's pages and assets: ``/`` and ``/ui/...`` on the query listener.

Files are read once when the routes are built and answered from memory with an ETag, so a page
costs no disk access and a reload costs a 304. Only files that ship in ``static/`` are served (no
path from the request ever reaches the filesystem). Every answer carries a Content-Security-Policy
that allows scripts and styles from this origin only: the pages render span names and attributes,
which are user input, and the policy is the second wall behind rendering them as text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from collector.telemetry import SelfMetrics

STATIC_DIR = Path(__file__).parent / "static"
PAGES = {"graph": "graph.html", "traces": "traces.html", "bottlenecks": "bottlenecks.html"}
TRACE_PAGE = "trace.html"
_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}
_TRACE_ID = re.compile(r"^[0-9a-fA-F]{1,32}$")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
Count = Callable[[str, int], None]  # (page, status) -> None


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of the UI, held in memory."""

    body: bytes
    content_type: str
    etag: str


def load_assets(directory: Path = STATIC_DIR) -> dict[str, Asset]:
    """Every servable file in ``directory`` by name. Raises OSError if it cannot be read (a
    broken install fails at start-up, not on the first page view)."""
    assets = {}
    for path in sorted(directory.iterdir()):
        kind = _TYPES.get(path.suffix)
        if kind is None or not path.is_file():
            continue
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        assets[path.name] = Asset(body, f"{kind}; charset=utf-8", etag)
    missing = [name for name in [*PAGES.values(), TRACE_PAGE] if name not in assets]
    if missing:
        raise OSError(f"UI files missing from {directory}: {', '.join(missing)}")
    return assets


def _answer(request: web.Request, asset: Asset) -> web.Response:
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": "no-cache"}
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, headers={**headers, "Content-Type": asset.content_type})


def _not_found(what: str, status: int = 404) -> web.Response:
    return web.Response(status=status, text=what + "\n", headers=SECURITY_HEADERS)


def _no_count(page: str, status: int) -> None:
    """Counting is off (no metrics registry given)."""


def ui_routes(
    assets: dict[str, Asset] | None = None, count: Count = _no_count
) -> web.RouteTableDef:
    """GET routes of the UI; ``count(page, status)`` is called once per request."""
    files = load_assets() if assets is None else assets
    routes = web.RouteTableDef()

    def send(request: web.Request, page: str, name: str) -> web.Response:
        response = _answer(request, files[name])
        count(page, response.status)
        return response

    @routes.get("/")
    @routes.get("/ui")
    @routes.get("/ui/")
    async def home(request: web.Request) -> web.Response:
        count("home", 302)
        raise web.HTTPFound("/ui/graph")

    @routes.get("/ui/traces/{trace_id}")
    async def trace(request: web.Request) -> web.Response:
        if not _TRACE_ID.match(request.match_info["trace_id"]):
            count("trace", 400)
            return _not_found("a trace id is 1 to 32 hexadecimal digits", 400)
        return send(request, "trace", TRACE_PAGE)

    @routes.get("/ui/static/{name}")
    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in files:
            count("static", 404)
            return _not_found("no such UI file")
        return send(request, "static", name)

    @routes.get("/ui/{page}")
    async def page(request: web.Request) -> web.Response:
        name = PAGES.get(request.match_info["page"])
        if name is None:
            count("unknown", 404)
            return _not_found("no such page; try /ui/graph, /ui/traces or /ui/bottlenecks")
        return send(request, request.match_info["page"], name)

    return routes


def counter(metrics: SelfMetrics) -> Count:
    """A ``count`` that adds to ``glassmesh_collector_ui_requests_total{page,code}``."""
    metrics.counter("ui_requests_total", "UI page and asset requests, by page and status code")

    def count(page: str, status: int) -> None:
        metrics.add("ui_requests_total", page=page, code=str(status))

    return count
