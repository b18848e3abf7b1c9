"""A real Prometheus (the Debian package `make test` installs) scrapes the collector's endpoint:
the mesh metrics that arrived over OTLP and the collector's own come back from its query API,
with exactly the names and labels a user would write in PromQL."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from collector.service import Collector
from tests.integration.collector.test_real_clients import _send_metrics
from tests.integration.prometheus import query, run_prometheus


@contextlib.contextmanager
def prometheus(tmp_path: Path, target: str) -> Iterator[str]:
    """Prometheus scraping ``target`` (host:port) every second; yields its base URL."""
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: glassmesh\n"
        "    honor_labels: true\n"  # keep each workload's job/instance, as docs/collector.md says
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    with run_prometheus(tmp_path, config) as base:
        yield base


async def until_present(session: aiohttp.ClientSession, base: str, promql: str) -> list[Any]:
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        found = await query(session, base, promql)
        if found:
            return found
        await asyncio.sleep(0.25)
    raise AssertionError(f"Prometheus never had {promql}")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_a_real_prometheus_scrapes_the_mesh_metrics_from_the_collector(
    collector: Collector, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    await asyncio.to_thread(_send_metrics, collector.url("otlp_http") + "/v1/metrics")
    target = collector.url("prometheus").removeprefix("http://")
    with prometheus(tmp_path, target) as base:
        requests = await until_present(session, base, 'istio_requests_total{job="web"}')
        assert requests[0]["metric"]["response_code"] == "200"
        assert requests[0]["value"][1] == "3"
        buckets = await until_present(
            session, base, 'latency_milliseconds_bucket{job="web",le="50"}'
        )
        assert buckets[0]["value"][1] == "1"
        own = await until_present(session, base, "glassmesh_collector_received_items_total")
        assert {r["metric"]["signal"] for r in own} >= {"metrics"}
        up = await until_present(session, base, 'up{job="glassmesh"}')
        assert up[0]["value"][1] == "1"
