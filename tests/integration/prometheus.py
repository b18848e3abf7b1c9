"""The real Prometheus the integration tests run (Debian's, installed by the Makefile's setup):
started on a config, on a free port, and stopped; and its instant-query API."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

PROMETHEUS = shutil.which("prometheus")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def run_prometheus(tmp_path: Path, config: Path, *flags: str) -> Iterator[str]:
    """Prometheus on ``config`` with its TSDB and log in ``tmp_path``; yields its base URL and
    stops it (SIGTERM, then SIGKILL after 10 s)."""
    assert PROMETHEUS is not None, "prometheus is installed by make test (Makefile: install)"
    port = _free_port()
    argv = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        *flags,
    ]
    with (tmp_path / "prometheus.log").open("wb") as log:
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
