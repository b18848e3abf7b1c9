"""A cluster's outlier detection, panic threshold and circuit breakers, with a fake clock."""

from __future__ import annotations

import asyncio

from controlplane.api.sidecar import CircuitBreakersConfig, OutlierDetectionConfig
from sidecar import stats
from sidecar.http1.codec import DecoderLimits
from sidecar.transport.pool import Cluster, ClusterSettings, Endpoint
from sidecar.transport.upstream import UpstreamConnection


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def cluster(clock: Clock, count: int = 3, **settings: object) -> Cluster:
    config = ClusterSettings(
        name="reviews",
        ssl=None,
        expected_ids=None,
        connect_timeout_s=1.0,
        max_idle=4,
        limits=DecoderLimits(),
        clock=clock,
        **settings,  # type: ignore[arg-type]
    )
    return Cluster(config, [Endpoint("127.0.0.1", 9000 + i) for i in range(count)])


def picked(c: Cluster, times: int = 30) -> set[int]:
    return {endpoint.port for endpoint in (c._pick(None) for _ in range(times)) if endpoint}


def test_consecutive_5xx_eject_an_endpoint_until_its_time_is_up() -> None:
    clock = Clock()
    od = OutlierDetectionConfig(consecutive_5xx=3, base_ejection_s=30.0, max_ejection_percent=50)
    c = cluster(clock, outlier_detection=od)
    bad = c.endpoints[0]
    for status in (500, 503, 200, 500, 500):  # a success resets the count
        c.observe(bad, status)
    assert picked(c) == {9000, 9001, 9002}
    c.observe(bad, 502)
    assert picked(c) == {9001, 9002}
    clock.now += 29.0
    assert picked(c) == {9001, 9002}
    clock.now += 1.0
    assert picked(c) == {9000, 9001, 9002}
    clock.now += 5.0  # back for less than an interval: the next ejection lasts twice as long
    for _ in range(3):
        c.observe(bad, 500)
    clock.now += 59.0
    assert 9000 not in picked(c)
    clock.now += 1.0
    assert 9000 in picked(c)
    assert c.outlier is not None and c.outlier.ejections_total == 2


def test_max_ejection_percent_and_the_panic_threshold() -> None:
    clock = Clock()
    od = OutlierDetectionConfig(consecutive_5xx=1, max_ejection_percent=10)
    c = cluster(clock, outlier_detection=od)
    for endpoint in c.endpoints:
        c.observe(endpoint, 500)
    assert sum(e.ejected_until > 0 for e in c.endpoints) == 1  # at least one may always go
    c2 = cluster(
        clock, outlier_detection=OutlierDetectionConfig(consecutive_5xx=1, max_ejection_percent=100)
    )
    for endpoint in c2.endpoints[:2]:
        c2.observe(endpoint, 500)
    # One healthy of three is under the 50% panic threshold: balance over all of them.
    assert picked(c2) == {9000, 9001, 9002}


async def test_past_max_connections_requests_wait_and_past_max_pending_get_503_uo() -> None:
    clock = Clock()
    breakers = CircuitBreakersConfig(max_connections=1, max_pending_requests=1)
    c = cluster(clock, count=1, circuit_breakers=breakers)
    c.endpoints[0].active = 1  # one connection open and busy
    outcomes: list[object] = []

    def record(conn: UpstreamConnection | None, failure: tuple[int, str, str] | None) -> None:
        outcomes.append(failure[:2] if failure else conn)

    assert c.acquire(record) is None  # waits for a connection
    assert c.acquire(record) is None  # overflows
    assert outcomes == [(503, stats.UPSTREAM_OVERFLOW)] and c.overflows == 1
    conn = UpstreamConnection(c.endpoints[0], None, DecoderLimits())
    conn.alive = True
    c.release(conn)  # handed straight to the waiting request
    assert outcomes[1] is conn
    await asyncio.sleep(0)
