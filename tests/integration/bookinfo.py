"""A small mesh run by the real parts, in-process: a control plane over HTTPS, sample apps, and
sidecars that get their certificates and routing from the control plane (``control_plane`` mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

from controlplane.api.sidecar import (
    Address,
    ControlPlaneConfig,
    ListenersConfig,
    ReadinessConfig,
    SidecarConfig,
)
from controlplane.demo.sampleapp import make_app
from controlplane.server import ControlPlane, ControlPlaneSettings
from controlplane.tokens import TokenAuthority
from sidecar.backoff import Backoff
from sidecar.server import Sidecar
from tests.integration.mesh import TEST_TIMEOUTS, bound
from tests.integration.rawhttp import Response, connect

TRUST = "spiffe://cluster.local/ns/default/sa"
FAST_PROBE = ReadinessConfig(path="/healthz", interval_s=0.1, timeout_s=1.0, failure_threshold=2)
SPLIT = [
    {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "reviews-split"},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": "reviews"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": "reviews", "port": 9080, "weight": 90, "subset": "v1"},
                        {"name": "reviews", "port": 9080, "weight": 10, "subset": "v2"},
                    ]
                }
            ],
        },
    },
    {
        "apiVersion": "glassmesh.io/v1alpha1",
        "kind": "TrafficPolicy",
        "metadata": {"name": "reviews"},
        "spec": {
            "host": "reviews",
            "subsets": [
                {"name": "v1", "labels": {"version": "v1"}},
                {"name": "v2", "labels": {"version": "v2"}},
            ],
        },
    },
]


async def wait_until(check: Callable[[], bool], what: str, within_s: float = 10.0) -> None:
    """Polls ``check`` every 20 ms; fails naming ``what`` after ``within_s``."""
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def endpoint_ports(sidecar: Sidecar, cluster: str) -> list[int]:
    """Ports of the endpoints ``sidecar`` has for ``cluster`` ([] if it has no such cluster)."""
    return [e.port for c in sidecar.tables.clusters() if c.name == cluster for e in c.endpoints]


def inbound_port(sidecar: Sidecar) -> int:
    return bound(sidecar, "inbound")[1]


@dataclass
class Bookinfo:
    """The parts a test started; ``close`` stops them all, newest first."""

    directory: Path
    session: aiohttp.ClientSession
    control: ControlPlane | None = None
    process: asyncio.subprocess.Process | None = None
    url: str = ""
    sidecars: list[Sidecar] = field(default_factory=list)
    apps: dict[str, web.AppRunner] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.directory / "cp"

    async def start_control(self, lease_s: float = 15.0, port: int = 0) -> str:
        """A control plane in this process."""
        settings = ControlPlaneSettings(data_dir=self.data_dir, port=port, lease_s=lease_s)
        self.control = ControlPlane(settings)
        self.url = await self.control.start()
        return self.url

    async def stop_control(self) -> None:
        if self.control is not None:
            await self.control.shutdown()
            self.control = None

    async def start_control_process(self, port: int, lease: str = "15s") -> str:
        """A control plane in a child process (``glassmesh controlplane``) on ``port``."""
        argv = ["-m", "controlplane.cli", "controlplane", "--data-dir", str(self.data_dir)]
        argv += ["--metrics-listen", "off"]  # 15014 may be taken by a parallel run
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, *argv, "--listen", f"127.0.0.1:{port}", "--lease", lease,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 20.0
        while True:
            assert self.process.returncode is None, "the control plane exited"
            assert time.monotonic() < deadline, "the control plane did not come up"
            with contextlib.suppress(aiohttp.ClientError, OSError, AssertionError):
                await self.proxies()
                return self.url
            await asyncio.sleep(0.1)

    async def kill_control_process(self) -> None:
        """SIGKILL: no goodbye on any stream."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()
        self.process = None

    async def app(self, name: str, version: str = "v1") -> web.Application:
        """A sample app answering ``/reviews/<id>`` with its version."""
        runner = web.AppRunner(make_app(name, version), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.apps[f"{name}-{version}"] = runner
        return runner.app

    def app_port(self, name: str, version: str = "v1") -> int:
        return int(self.apps[f"{name}-{version}"].addresses[0][1])

    def config(self, service: str, version: str = "v1", **changes: Any) -> SidecarConfig:
        """A sidecar for ``service`` ``version`` (its app must run), on port-0 listeners, with a
        join token from the control plane and a state file of its own."""
        tokens = TokenAuthority.load_or_create(self.data_dir, "cluster.local")
        token = tokens.issue("default", service, 3600, time.time())
        zero = Address(port=0)
        control_plane = ControlPlaneConfig(
            url=self.url,
            ca_file=str(self.data_dir / "ca" / "ca.pem"),
            token=token,
            snapshot_file=f"state/{service}-{version}.json",
            ping_s=0.5,
        )
        config = SidecarConfig(
            service=service,
            identity=f"{TRUST}/{service}",
            app=Address(port=self.app_port(service, version)),
            control_plane=control_plane,
            labels={"app": service, "version": version},
            readiness=FAST_PROBE,
            listeners=ListenersConfig(outbound=zero, inbound=zero, admin=zero),
            timeouts=TEST_TIMEOUTS,
        )
        return msgspec.structs.replace(config, **changes)

    async def sidecar(self, config: SidecarConfig) -> Sidecar:
        sidecar = Sidecar(config, self.directory, backoff=Backoff(min_s=0.05, max_s=0.2))
        self.sidecars.append(sidecar)
        await sidecar.start()
        return sidecar

    async def start(self, service: str, version: str = "v1") -> Sidecar:
        """The app and its sidecar."""
        await self.app(service, version)
        return await self.sidecar(self.config(service, version))

    async def start_reviews_and_page(self) -> tuple[Sidecar, Sidecar]:
        """The control plane, then reviews and productpage with their sidecars; returns (reviews,
        productpage) once productpage knows the reviews endpoint."""
        await self.start_control()
        reviews = await self.start("reviews")
        page = await self.start("productpage")
        await wait_until(lambda: bool(endpoint_ports(page, "reviews")), "the reviews endpoint")
        return reviews, page

    def _ca(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.data_dir / "ca" / "ca.pem")

    def _headers(self, token: str) -> dict[str, str]:
        value = (self.data_dir / token).read_text().strip()
        return {"Authorization": f"Bearer {value}"}

    async def apply(self, body: Any) -> None:
        async with self.session.post(
            self.url + "/api/v1/resources",
            json=body,
            headers=self._headers("admin-token"),
            ssl=self._ca(),
        ) as resp:
            assert resp.status == 200, await resp.text()

    async def proxies(self) -> list[dict[str, Any]]:
        async with self.session.get(
            self.url + "/api/v1/proxies", headers=self._headers("readonly-token"), ssl=self._ca()
        ) as resp:
            assert resp.status == 200
            items: list[dict[str, Any]] = (await resp.json())["items"]
            return items

    async def call(self, via: Sidecar, path: str = "/reviews/1", host: str = "reviews") -> Any:
        """GET ``path`` from ``host`` through ``via``'s outbound listener: (status, JSON or
        text)."""
        outbound = bound(via, "outbound")
        url = f"http://{outbound[0]}:{outbound[1]}{path}"
        async with self.session.get(url, headers={"Host": host}) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    async def crash(self, sidecar: Sidecar) -> None:
        """Stops ``sidecar`` as a killed process would: listeners and connections cut, no word
        to the control plane (its lease runs out), nothing drained."""
        assert sidecar.link is not None
        await sidecar.link.client.close()
        await sidecar.link.probe.close()
        await sidecar.link.agent.close()
        for server in sidecar._servers.values():
            server.close()
        for ctx in sidecar.listener_contexts():
            for conn in list(ctx.connections):
                if conn.transport is not None:
                    conn.transport.abort()
        sidecar.draining = True  # close() skips what a crash leaves behind
        self.sidecars.remove(sidecar)
        for cluster in sidecar.all_clusters():
            await cluster.close()
        if sidecar._admin is not None:
            await sidecar._admin.cleanup()
        for task in sidecar._tasks:
            task.cancel()

    async def close(self) -> None:
        for sidecar in reversed(self.sidecars):
            await sidecar.shutdown()
        await self.stop_control()
        if self.process is not None:
            await self.kill_control_process()
        for runner in self.apps.values():
            with contextlib.suppress(Exception):
                await runner.cleanup()


@pytest.fixture(name="mesh")
async def bookinfo_mesh(tmp_path: Path) -> AsyncIterator[Bookinfo]:
    """A Bookinfo to start parts in, all stopped after the test (import it to use ``mesh``)."""
    async with aiohttp.ClientSession() as session:
        mesh = Bookinfo(tmp_path, session)
        try:
            yield mesh
        finally:
            await mesh.close()


async def outbound_get(via: Sidecar, target: bytes, extra: bytes = b"") -> Response:
    """``GET target`` for host reviews, sent as is (no client-side normalization) through
    ``via``'s outbound listener, with ``extra`` header lines."""
    async with connect(bound(via, "outbound")) as client:
        return await client.request(b"GET %s HTTP/1.1\r\nHost: reviews\r\n%s\r\n" % (target, extra))
