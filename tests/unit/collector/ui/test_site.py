"""The UI's routes: pages from memory with an ETag and a strict Content-Security-Policy, only
shipped files served, bad paths answered 4xx and counted, the API routes left as they were."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from collector.config import QueryConfig
from collector.query.server import make_query_app
from collector.storage.memory import MemoryStore
from collector.telemetry import SelfMetrics
from collector.ui.site import PAGES, STATIC_DIR, TRACE_PAGE, load_assets


@pytest.fixture
async def ui() -> AsyncIterator[tuple[TestClient[web.Request, web.Application], SelfMetrics]]:
    metrics = SelfMetrics()
    app = make_query_app(MemoryStore(), QueryConfig(), metrics=metrics)
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    try:
        yield client, metrics
    finally:
        await client.close()


Client = tuple[TestClient[web.Request, web.Application], SelfMetrics]


@pytest.mark.parametrize("path", ["/", "/ui", "/ui/"])
async def test_the_root_leads_to_the_service_graph(ui: Client, path: str) -> None:
    client, _ = ui
    response = await client.get(path, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/ui/graph"


@pytest.mark.parametrize("page", sorted(PAGES))
async def test_each_page_is_html_with_a_strict_policy(ui: Client, page: str) -> None:
    client, metrics = ui
    response = await client.get(f"/ui/{page}")
    assert response.status == 200
    assert response.content_type == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    text = await response.text()
    assert f'src="/ui/static/{page}.js"' in text
    assert metrics.value("ui_requests_total", page=page, code="200") == 1


async def test_a_trace_page_takes_a_hex_trace_id(ui: Client) -> None:
    client, metrics = ui
    good = await client.get("/ui/traces/4bf92f3577b34da6a3ce929d0e0e4736")
    assert good.status == 200
    assert "trace.js" in await good.text()
    bad = await client.get("/ui/traces/not-a-trace")
    assert bad.status == 400
    assert "hexadecimal" in await bad.text()
    assert metrics.value("ui_requests_total", page="trace", code="400") == 1


async def test_assets_have_their_types_and_answer_304_when_unchanged(ui: Client) -> None:
    client, metrics = ui
    script = await client.get("/ui/static/common.js")
    assert script.status == 200
    assert script.content_type == "text/javascript"
    assert (await script.read()) == (STATIC_DIR / "common.js").read_bytes()
    style = await client.get("/ui/static/ui.css")
    assert style.content_type == "text/css"
    again = await client.get(
        "/ui/static/common.js", headers={"If-None-Match": script.headers["ETag"]}
    )
    assert again.status == 304
    assert (await again.read()) == b""
    assert metrics.value("ui_requests_total", page="static", code="304") == 1


@pytest.mark.parametrize(
    "path", ["/ui/static/nope.js", "/ui/static/..%2Fsite.py", "/ui/static/site.py", "/ui/admin"]
)
async def test_only_shipped_files_and_known_pages_are_served(ui: Client, path: str) -> None:
    client, metrics = ui
    response = await client.get(path)
    assert response.status == 404
    assert "site.py" not in await response.text()
    counted = metrics.value("ui_requests_total", page="static", code="404") + metrics.value(
        "ui_requests_total", page="unknown", code="404"
    )
    assert counted == 1


async def test_the_apis_still_answer_beside_the_ui(ui: Client) -> None:
    client, _ = ui
    response = await client.get("/api/services")
    assert response.status == 200
    assert (await response.json())["data"] == []


def test_a_missing_page_fails_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "graph.html").write_text("<!doctype html>")
    with pytest.raises(OSError, match=TRACE_PAGE):
        load_assets(tmp_path)


def test_every_shipped_script_and_style_is_loaded() -> None:
    names = set(load_assets())
    shipped = {p.name for p in STATIC_DIR.iterdir() if p.suffix in {".html", ".css", ".js"}}
    assert names == shipped
