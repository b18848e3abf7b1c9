"""The web UI in headless Chromium against a running shop with real traffic: every page loads
without console errors, the graph shows the mesh's services coloured by health, a trace opens
from search with its spans, critical path and access-log lines, the bottlenecks page lists the
entry endpoint. Screenshots go to build/ui-screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collector.ui.site import PAGES
from tests.integration.bookinfo import bookinfo_mesh
from tests.integration.ui.browser import browser
from tests.integration.ui.shopmesh import Shop, shop, until

__all__ = ["bookinfo_mesh", "shop"]
SERVICES = {"productpage", "frontend", "reviews", "ratings"}


def health(error_rate: float, requests: float) -> str:
    """Kiali's thresholds, as the page must apply them."""
    if not requests:
        return "idle"
    return "failing" if error_rate > 0.1 else "degraded" if error_rate >= 0.001 else "healthy"


async def settled_graph(shop: Shop, requests: int) -> Any:
    """The graph once the sidecars' counts and the traces of all ``requests`` are in: every
    edge saw them all; traces hold all but the ratings calls made without context."""
    graph = await shop.get("/api/graph?window=5m")
    counts = {e["id"]: (e["mesh"]["requests"], e["traces"]["requests"]) for e in graph["edges"]}
    lost = requests // 5
    wanted = {
        "productpage--frontend": (requests, requests),
        "frontend--reviews": (requests, requests),
        "frontend--ratings": (requests, requests - lost),
    }
    return graph if all(counts.get(k) == v for k, v in wanted.items()) else None


async def test_the_service_graph_shows_the_mesh_coloured_by_health(
    shop: Shop, tmp_path: Path
) -> None:
    assert await shop.traffic(12) == [200] * 12
    graph = await until(lambda: settled_graph(shop, 12), "all 12 requests in the graph")
    async with browser(tmp_path / "profile") as b:
        page = await b.open(shop.ui_url + "/")
        assert page.url.endswith("/ui/graph")
        drawn = set(await page.locator("svg g.node").evaluate_all(
            "nodes => nodes.map(n => n.dataset.node)"))  # fmt: skip
        assert drawn >= SERVICES
        for edge in graph["edges"]:
            row = page.locator(f'#edges tr[data-edge="{edge["id"]}"]')
            assert await row.get_attribute("class") == health(edge["error_rate"], edge["requests"])
            svg_edge = page.locator(f'svg g.edge[data-edge="{edge["id"]}"]')
            assert health(edge["error_rate"], edge["requests"]) in (
                await svg_edge.get_attribute("class") or ""
            )
        ratings = page.locator('#edges tr[data-edge="frontend--ratings"]')
        assert await ratings.get_attribute("class") == "failing"  # 3 of 12 answered 500
        ratings_edge = next(e for e in graph["edges"] if e["id"] == "frontend--ratings")
        assert ratings_edge["coverage"] < 1.0  # 2 of 12 went without context
        coverage = page.locator('svg g.edge[data-edge="frontend--ratings"] text.coverage')
        assert await coverage.text_content() == f"traces {round(ratings_edge['coverage'] * 100)}%"
        assert await page.locator("svg text.coverage").count() == 1
        assert "p95" in (await page.locator("svg g.edge").first.text_content() or "")
        await b.shot("graph")
        assert b.errors == []


HOSTILE = '<img src=x onerror="window.pwned=1">'


async def complete_traces(shop: Shop, count: int) -> list[Any]:
    """Traces of productpage with all six spans and a critical path from the analysis."""
    found = await shop.get("/api/traces?service=productpage&limit=50")
    whole = [t["traceID"] for t in found["data"] if len(t["spans"]) == 6]
    analysed = [t for t in whole if await shop.status(f"/api/v1/critical-path/{t}") == 200]
    return analysed if len(analysed) >= count else []


async def test_a_trace_opens_from_search_with_critical_path_and_access_logs(
    shop: Shop, tmp_path: Path
) -> None:
    assert await shop.traffic(4, user_agent=HOSTILE) == [200] * 4
    await until(lambda: complete_traces(shop, 4), "four analysed traces")
    async with browser(tmp_path / "profile") as b:
        page = await b.open(shop.ui_url + "/ui/traces")
        await page.select_option("select[name=service]", "productpage")
        await page.fill("input[name=limit]", "5")
        await page.click("button[type=submit]")
        await page.wait_for_selector("#results tbody tr")
        assert await page.locator("#results tbody tr").count() == 4
        await b.shot("traces")
        await page.locator("#results tbody tr a").first.click()
        await page.wait_for_selector("body[data-state=ready] .span-row[data-span]")
        rows = page.locator(".span-row[data-span]")
        assert await rows.count() == 6
        text = await page.locator("#waterfall").inner_text()
        for name in SERVICES:
            assert name in text
        # The analysis' critical path: the root is on it, and every marked span has its segment.
        assert "critical" in (await rows.first.get_attribute("class") or "")
        marked = await page.locator(".span-row.critical").count()
        assert marked >= 2
        assert await page.locator(".span-row.critical .cp").count() == marked
        assert "critical path" in await page.locator("#critical").inner_text()
        # A span's access-log line, and user input shown as text, never run.
        await rows.nth(1).click()
        details = page.locator(".details:not([hidden])")
        log_line = await details.locator("pre.log").first.inner_text()
        assert "GET /product/" in log_line
        assert HOSTILE in await details.inner_text()
        assert await page.locator(".details img").count() == 0
        assert await page.evaluate("window.pwned") is None
        await b.shot("trace")
        # Search by tag: the one trace whose ratings call answered 500, listed as failed.
        await b.open(shop.ui_url + "/ui/traces")
        await page.select_option("select[name=service]", "ratings")
        await page.fill("input[name=tags]", "http.response.status_code=500")
        await page.click("button[type=submit]")
        await page.wait_for_selector("body[data-state=ready] #results tbody tr")
        assert await page.locator("#results tbody tr").count() == 1
        assert await page.locator("#results tbody tr").get_attribute("class") == "failing"
        assert b.errors == []


async def test_every_page_loads_and_the_bottlenecks_list_the_entry_endpoint(
    shop: Shop, tmp_path: Path
) -> None:
    assert await shop.traffic(8) == [200] * 8
    await until(lambda: complete_traces(shop, 7), "seven analysed traces")  # n=5 lost context
    async with browser(tmp_path / "profile") as b:
        for name in sorted(PAGES, key=lambda page: page == "bottlenecks"):  # bottlenecks last
            await b.open(f"{shop.ui_url}/ui/{name}")
            assert await b.page.get_attribute("body", "data-state") == "ready"
            await b.shot(f"page-{name}")
        endpoints = b.page.locator("section.endpoint")
        assert await endpoints.count() >= 1
        entry = b.page.locator('section.endpoint[data-endpoint^="productpage "]')
        assert "8 requests" in await entry.locator(".summary").inner_text()
        assert await entry.locator("tbody tr").count() >= 1
        evidence = entry.locator("tbody tr").first.locator("a.trace-id")
        assert await evidence.count() >= 1
        await evidence.first.click()
        await b.page.wait_for_selector("body[data-state=ready] .span-row.critical")
        await b.shot("bottleneck-evidence")
        assert b.errors == []
