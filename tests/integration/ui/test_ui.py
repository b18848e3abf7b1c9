"""The web UI in headless Chromium against a running shop with real traffic: every page loads
without console errors, the graph shows the mesh's services coloured by health, a trace opens
from search with its spans, critical path and access-log lines, the bottlenecks page lists the
entry endpoint. Screenshots go to build/ui-screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
