"""Resilience under steady load through sidecars configured by the control plane: an endpoint
killed mid-traffic, a rolling restart of every endpoint, and a new route applied, each with zero
failed requests. Every request sent and every answer received is counted."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable

import aiohttp

from sidecar.routing import VirtualHost
from sidecar.server import Sidecar
from tests.integration.bookinfo import (
    SPLIT,
    Bookinfo,
    bookinfo_mesh,  # noqa: F401 (the mesh fixture)
    endpoint_ports,
    wait_until,
)

POLICY = {
    "apiVersion": "glassmesh.io/v1alpha1",
    "kind": "TrafficPolicy",
    "metadata": {"name": "reviews"},
    "spec": {
        "host": "reviews",
        "trafficPolicy": {
            "outlierDetection": {
                "consecutive5xxErrors": 2,
                "baseEjectionTime": "30s",
                "maxEjectionPercent": 50,
            }
        },
        "subsets": [
            {"name": "v1", "labels": {"version": "v1"}},
            {"name": "v2", "labels": {"version": "v2"}},
        ],
    },
}


class Load:
    """GETs through ``via`` back to back until stopped; counts what was sent and answered."""

    def __init__(self, mesh: Bookinfo, via: Sidecar) -> None:
        self.mesh, self.via = mesh, via
        self.sent = 0
        self.answers: collections.Counter[int] = collections.Counter()
        self.errors: list[str] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            self.sent += 1
            try:
                status, body = await self.mesh.call(self.via)
            except aiohttp.ClientError as exc:
                self.errors.append(repr(exc))
                continue
            self.answers[status] += 1
            if status != 200:
                self.errors.append(f"{status} {str(body)[:120]}")

    async def during(self, action: Callable[[], Awaitable[None]]) -> None:
        self._task = asyncio.create_task(self._run())
        try:
            await wait_until(lambda: self.sent >= 30, "load before")
            await action()
            sent = self.sent
            await wait_until(lambda: self.sent >= sent + 60, "load after")
        finally:
            self._stop.set()
            await self._task


async def three_reviews(mesh: Bookinfo) -> tuple[list[Sidecar], Sidecar]:
    await mesh.start_control()
    await mesh.apply(POLICY)
    reviews = [await mesh.start("reviews", v) for v in ("v1", "v2", "v3")]
    page = await mesh.start("productpage")
    await wait_until(lambda: len(endpoint_ports(page, "reviews")) == 3, "three endpoints")
    return reviews, page


async def test_an_endpoint_killed_mid_traffic_fails_no_request(mesh: Bookinfo) -> None:
    reviews, page = await three_reviews(mesh)
    load = Load(mesh, page)

    async def kill() -> None:
        await mesh.crash(reviews[2])
        cluster = next(c for c in page.tables.clusters() if c.name == "reviews")
        await wait_until(lambda: any(e.ejected_until for e in cluster.endpoints), "an ejection")

    await load.during(kill)
    print(f"killed endpoint: sent {load.sent}, answers {dict(load.answers)}")
    assert load.errors == [] and load.answers == {200: load.sent}
    outbound = page.listener_contexts()[0].stats
    assert outbound.rq_retry >= 1  # the connect failures were retried


async def test_a_rolling_restart_of_every_endpoint_fails_no_request(mesh: Bookinfo) -> None:
    reviews, page = await three_reviews(mesh)
    load = Load(mesh, page)

    async def roll() -> None:
        for old in reviews:
            version = old.config.labels["version"]
            config = old.config
            await old.shutdown()  # withdraws itself, then drains
            mesh.sidecars.remove(old)
            fresh = await mesh.sidecar(config)
            port = int(fresh.bound_addresses()["inbound"].rsplit(":", 1)[1])

            def registered(port: int = port) -> bool:
                return port in endpoint_ports(page, "reviews")

            await wait_until(registered, f"the new {version}")

    await load.during(roll)
    print(f"rolling restart: sent {load.sent}, answers {dict(load.answers)}")
    assert load.errors == [] and load.answers == {200: load.sent}


async def test_a_route_applied_under_load_fails_no_request(mesh: Bookinfo) -> None:
    _, page = await three_reviews(mesh)
    load = Load(mesh, page)

    async def apply() -> None:
        await mesh.apply(SPLIT[0])
        hosts = page.tables
        await wait_until(lambda: isinstance(hosts.table.hosts[b"reviews"], VirtualHost), "route")

    await load.during(apply)
    print(f"route applied: sent {load.sent}, answers {dict(load.answers)}")
    assert load.errors == [] and load.answers == {200: load.sent}
