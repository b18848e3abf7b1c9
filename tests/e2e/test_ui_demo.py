"""The web UI in headless Chromium against ``glassmesh demo --scenario slow-inventory`` as a user
runs it: the graph shows the shop's six services and their edges, a trace opens from search, the
bottlenecks page puts inventory on top and its evidence opens a waterfall with inventory on the
critical path, no page logs a console error, and the demo leaves nothing running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from controlplane.demo.shop import EDGES, SERVICES
from tests.e2e.demo_run import Demo, alive, get_json
from tests.integration.ui.browser import browser


@pytest.fixture
def demo() -> Iterator[Demo]:
    started = Demo(
        "--scenario", "slow-inventory", "--rate", "20", "--duration", "150", "--free-ports"
    )
    try:
        yield started
    finally:
        started.kill()


def top_finding(collector: str) -> str | None:
    """The service of the analysis' finding with the largest estimated saving, if any."""
    report = get_json(f"{collector}/api/v1/bottlenecks?lookback=5m")
    findings = [b for e in report["endpoints"] for b in e["bottlenecks"]]
    if not findings:
        return None
    return str(max(findings, key=lambda b: b["estimated_saving_ms"])["service"])


def ready(collector: str) -> bool:
    """Every edge of the shop in the graph, and inventory the top finding of the analysis."""
    graph = get_json(f"{collector}/api/graph?window=1m")
    edges = {(e["source"], e["target"]) for e in graph["edges"] if e["requests"] > 0}
    return edges >= set(EDGES) and top_finding(collector) == "inventory"


def older_than(seconds: float, **query: str) -> str:
    """A search's query string for the 5 minutes that ended ``seconds`` ago (browser local
    time, as the form's datetime-local fields take it)."""
    now = time.time()
    local = {
        name: time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(at))
        for name, at in (("start", now - 300), ("end", now - seconds))
    }
    return urlencode({**query, "lookback": "custom", "limit": "10", **local})


def ended(collector: str, seconds: float) -> bool:
    """Whether frontend has a trace that started over ``seconds`` ago."""
    end_us = int((time.time() - seconds) * 1e6)
    found = get_json(f"{collector}/api/traces?service=frontend&end={end_us}&limit=1")
    return bool(found["data"])


async def rows(page: Any, selector: str, script: str) -> list[Any]:
    found: list[Any] = await page.locator(selector).evaluate_all(script)
    return found


async def test_the_ui_shows_the_demo_and_inventory_as_the_top_bottleneck(
    demo: Demo, tmp_path: Path
) -> None:
    collector = await asyncio.to_thread(demo.collector)
    await asyncio.to_thread(demo.wait_for, lambda: ready(collector), "the shop analysed", 120)
    async with browser(tmp_path / "profile") as b:
        page = await b.open(collector + "/ui/graph?window=1m")
        assert await page.locator("select[name=window]").input_value() == "1m"
        nodes = await rows(page, "svg g.node", "ns => ns.map(n => n.dataset.node)")
        assert set(nodes) >= set(SERVICES)
        edges = await rows(page, "#edges tbody tr", "rs => rs.map(r => r.dataset.edge)")
        assert set(edges) >= {f"{a}--{b}" for a, b in EDGES}
        await b.shot("demo-graph")

        page = await b.open(collector + "/ui/bottlenecks?lookback=5m")
        findings = await rows(
            page, "section.endpoint tbody tr",
            "rs => rs.map(r => [r.dataset.service, Number(r.dataset.savingMs)])",
        )  # fmt: skip
        assert max(findings, key=lambda f: f[1])[0] == "inventory"
        await b.shot("demo-bottlenecks")
        top = page.locator(
            'section.endpoint tbody tr[data-service="inventory"]:not([hidden])'
        ).first
        await top.locator("a.trace-id").first.click()
        await page.wait_for_selector("body[data-state=ready] .span-row.critical")
        critical = await rows(
            page, ".span-row.critical .service", "ss => ss.map(s => s.textContent)"
        )
        assert "inventory" in critical
        await b.shot("demo-evidence-trace")

        # Traces that ended a while ago: the analysis has completed them (it waits for quiet).
        await asyncio.to_thread(demo.wait_for, lambda: ended(collector, 8.0), "older traces", 30)
        page = await b.open(collector + "/ui/traces?" + older_than(8.0, service="frontend"))
        assert await page.locator("#results tbody tr").count() >= 1
        await page.locator("#results tbody tr a").first.click()
        await page.wait_for_selector("body[data-state=ready] .span-row[data-span]")
        assert await page.locator(".span-row[data-span]").count() >= 2
        await b.shot("demo-trace")
        assert b.errors == []

    assert await asyncio.to_thread(demo.stop) == 0, demo.output
    assert [pid for pid in demo.children if alive(pid)] == []
