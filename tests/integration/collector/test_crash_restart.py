"""A batch answered 200 survives kill -9 of the collector process and a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.unit.collector.spans import request, resource_spans, span, trace_id

CONFIG = """
receivers: {otlp: {http: {endpoint: "127.0.0.1:0"}, grpc: {enabled: false}}}
exporters: {prometheus: {enabled: false}}
query: {endpoint: "127.0.0.1:0"}
"""


def _start(data: Path, config: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlplane.cli", "collector", "--data-dir", str(data),
         "--config", str(config)],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    urls: dict[str, str] = {}
    while len(urls) < 2:
        line = proc.stderr.readline().decode()
        assert line, "collector exited before listening"
        if "listening on" in line:
            name, address = line.split("collector ", 1)[1].split(" listening on ")
            urls[name] = "http://" + address.strip()
    return proc, urls


async def test_accepted_spans_survive_kill_9(tmp_path: Path) -> None:
    config = tmp_path / "collector.yaml"
    config.write_text(CONFIG)
    proc, urls = await asyncio.to_thread(_start, tmp_path / "data", config)
    try:
        body = request(resource_spans("web", [span(42, f"op{i}") for i in range(50)]))
        async with aiohttp.ClientSession() as s, s.post(
            urls["otlp_http"] + "/v1/traces", data=body.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        ) as r:  # fmt: skip
            assert r.status == 200
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    proc, urls = await asyncio.to_thread(_start, tmp_path / "data", config)
    try:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"{urls['query']}/api/traces/{trace_id(42).hex()}") as r,
        ):
            assert r.status == 200
            assert len((await r.json())["data"][0]["spans"]) == 50
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        assert proc.stderr is not None
        proc.stderr.close()
