"""The UI of a collector that has nothing to show yet, or runs without the service graph: each
page says so in words instead of failing silently."""

from __future__ import annotations

from pathlib import Path

from collector.service import Collector
from tests.integration.collector.conftest import collector_config
from tests.integration.ui.browser import browser


async def test_each_page_says_what_is_missing(tmp_path: Path) -> None:
    collector = Collector(
        collector_config(connectors__servicegraph={"enabled": False}), tmp_path / "data"
    )
    await collector.start()
    try:
        async with browser(tmp_path / "profile") as b:
            page = await b.open(collector.url("query") + "/ui/traces")
            assert await page.inner_text("#status") == "No services have sent spans yet."
            page = await b.open(collector.url("query") + "/ui/bottlenecks")
            assert "No entry endpoints" in await page.inner_text("#status")
            assert b.errors == []
            page = await b.open(collector.url("query") + "/ui/graph")
            assert await page.get_attribute("body", "data-state") == "error"
            assert "service graph is off" in await page.inner_text("#status")
            await b.shot("graph-off")
    finally:
        await collector.shutdown()
