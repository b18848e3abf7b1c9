"""A real Prometheus (the Debian package `make test` installs) scrapes the collector's endpoint:
the mesh metrics that arrived over OTLP and the collector's own come back from its query API,
with exactly the names and labels a user would write in PromQL."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from collector.service import Collector
from tests.integration.collector.test_real_clients import _send_metrics

PROMETHEUS = shutil.which("prometheus")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def prometheus(tmp_path: Path, target: str) -> Iterator[str]:
    """Prometheus scraping ``target`` (host:port) every second; yields its base URL."""
    assert PROMETHEUS is not None, "prometheus is installed by make test (Makefile: install)"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: glassmesh\n"
        "    honor_labels: true\n"  # keep each workload's job/instance, as docs/collector.md says
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = _free_port()
    argv = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def query(session: aiohttp.ClientSession, base: str, promql: str) -> list[Any]:
    """The result vector of an instant query ([] while Prometheus is not up yet)."""
    try:
        async with session.get(f"{base}/api/v1/query", params={"query": promql}) as resp:
            if resp.status != 200:
                return []
            body = await resp.json()
    except aiohttp.ClientError:
        return []
    result: list[Any] = body["data"]["result"]
    return result


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
