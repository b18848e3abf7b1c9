"""The app readiness probe: thresholds, and HTTP and TCP probes against real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from controlplane.api.sidecar import Address, ReadinessConfig
from sidecar.readiness import ReadinessProbe


def probe(changes: list[bool], **config: object) -> ReadinessProbe:
    settings = ReadinessConfig(success_threshold=2, failure_threshold=3, **config)  # type: ignore[arg-type]
    return ReadinessProbe(settings, Address(port=1), changes.append)


def test_state_flips_only_after_the_thresholds_in_a_row() -> None:
    changes: list[bool] = []
    p = probe(changes)
    for ok in (True, False, True, True):  # a failure resets the success streak
        p.record(ok)
    assert changes == [True] and p.ready
    for ok in (False, False, True, False, False, False):
        p.record(ok)
    assert changes == [True, False] and not p.ready
    assert (p.probes, p.failures) == (10, 6)


@pytest.fixture
async def app() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A server answering each connection with the next canned status line."""
    answers = [b"HTTP/1.1 200 OK\r\n\r\n", b"HTTP/1.1 503 Nope\r\n\r\n", b"garbage\r\n"]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answers.pop(0) if answers else b"")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], answers
    server.close()
    await server.wait_closed()


async def test_an_http_probe_wants_2xx_or_3xx(app: tuple[int, list[bytes]]) -> None:
    port, _ = app
    config = ReadinessConfig(path="/healthz", timeout_s=2.0)
    p = ReadinessProbe(config, Address(port=port), lambda _: None)
    assert [await p.probe() for _ in range(3)] == [True, False, False]


async def test_a_tcp_probe_wants_a_listener(app: tuple[int, list[bytes]]) -> None:
    port, _ = app
    assert await ReadinessProbe(ReadinessConfig(), Address(port=port), lambda _: None).probe()
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    closed = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    assert not await ReadinessProbe(ReadinessConfig(), Address(port=closed), lambda _: None).probe()
