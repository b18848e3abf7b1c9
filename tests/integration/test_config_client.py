"""The sidecar's config stream client against a scripted control plane on a real socket:
it registers first, ACKs what it applies, NACKs what it cannot read or apply (keeping the
stream), tells readiness changes, and reconnects with backoff when the stream drops."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import msgspec
import pytest
from aiohttp import web

from controlplane.api.snapshot import (
    Ack,
    ClientMessage,
    ReadinessUpdate,
    Registration,
    Snapshot,
    decode_client,
    encode,
)
from sidecar.backoff import Backoff
from sidecar.config_client import ConfigClient, Rejected, StreamSettings
from tests.integration.bookinfo import wait_until

REGISTRATION = Registration(service="reviews", address="127.0.0.1", port=15006, ready=True)


@dataclass
class ScriptedPlane:
    """Accepts streams; sends each one the pushes in ``script``, records what comes back."""

    script: list[bytes]
    received: list[list[ClientMessage]] = field(default_factory=list)
    hang_up: asyncio.Event = field(default_factory=asyncio.Event)

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        messages: list[ClientMessage] = []
        self.received.append(messages)
        first = await ws.receive()
        messages.append(decode_client(first.data))
        for push in self.script:
            await ws.send_bytes(push)
        closer = asyncio.create_task(self._close_on_hang_up(ws))
        async for message in ws:
            messages.append(decode_client(message.data))
        closer.cancel()
        return ws

    async def _close_on_hang_up(self, ws: web.WebSocketResponse) -> None:
        await self.hang_up.wait()
        self.hang_up.clear()
        await ws.close()


@pytest.fixture
async def plane() -> AsyncIterator[tuple[ScriptedPlane, str]]:
    scripted = ScriptedPlane(script=[])
    app = web.Application()
    app.router.add_get("/api/v1/stream", scripted.stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield scripted, f"http://{host}:{port}"
    await runner.cleanup()


def client(url: str, apply: Callable[[Snapshot], None]) -> ConfigClient:
    settings = StreamSettings(url, ping_s=1.0, backoff=Backoff(min_s=0.01, max_s=0.05))
    return ConfigClient(settings, ssl.create_default_context(), lambda: REGISTRATION, apply)


async def test_acks_what_it_applies_and_nacks_what_it_cannot_read_or_apply(
    plane: tuple[ScriptedPlane, str],
) -> None:
    scripted, url = plane
    scripted.script = [
        encode(Snapshot(version=1)),
        msgspec.json.encode({"type": "snapshot", "version": 2, "listeners": []}),  # unknown field
        encode(Snapshot(version=3, trust_bundle_pem="refuse me")),
        encode(Snapshot(version=4)),
    ]
    applied: list[int] = []

    def apply(snapshot: Snapshot) -> None:
        if snapshot.trust_bundle_pem:
            raise Rejected("trust_bundle_pem: not PEM")
        applied.append(snapshot.version)

    stream = client(url, apply)
    stream.start()
    try:
        await wait_until(lambda: bool(scripted.received) and len(scripted.received[0]) == 5, "acks")
    finally:
        await stream.close()
    first, *acks = scripted.received[0]
    assert first == REGISTRATION
    assert [a.version for a in acks if isinstance(a, Ack) and a.error is None] == [1, 4]
    nacks = {a.version: a.error for a in acks if isinstance(a, Ack) and a.error}
    assert set(nacks) == {2, 3}
    assert "listeners" in (nacks[2] or "") and nacks[3] == "trust_bundle_pem: not PEM"
    assert applied == [1, 4] and stream.version == 4
    assert (stream.applied, stream.rejected) == (2, 2)


async def test_reconnects_after_the_stream_drops_and_registers_again(
    plane: tuple[ScriptedPlane, str],
) -> None:
    scripted, url = plane
    scripted.script = [encode(Snapshot(version=7))]
    applied: list[int] = []
    stream = client(url, lambda s: applied.append(s.version))
    stream.start()
    try:
        await wait_until(lambda: applied == [7] and stream.connected, "the first stream")
        scripted.script = [encode(Snapshot(version=1))]  # a restarted control plane
        scripted.hang_up.set()
        await wait_until(lambda: applied == [7, 1], "the second stream")
        await stream.readiness_changed(False)
        await wait_until(lambda: len(scripted.received[1]) == 3, "the readiness update")
    finally:
        await stream.close()
    assert stream.connects == 2
    assert scripted.received[1][0] == REGISTRATION
    assert scripted.received[1][2] == ReadinessUpdate(ready=False)
