"""The config stream client: registers this sidecar's instance, applies what the control plane
pushes, ACKs or NACKs it, and reconnects whenever the stream breaks.

The stream is a WebSocket to ``<url>/api/v1/stream`` over TLS with our workload certificate, so the
control plane knows who we are from the handshake. We send a Registration first, a ReadinessUpdate
whenever the app's readiness flips, and an Ack for every Snapshot (``error`` set: a NACK, and the
previous config stays). Pings every ``ping_s`` keep the registry's lease alive.

With the control plane gone the sidecar keeps serving what it last applied, and reconnects with
jittered exponential backoff. Versions are not compared across streams: a restarted control plane
counts from 1 again, and its first snapshot is applied like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

import aiohttp
import msgspec

from controlplane.api.snapshot import (
    MAX_ERROR_CHARS,
    Ack,
    ClientMessage,
    ReadinessUpdate,
    Registration,
    Snapshot,
    StreamError,
    decode_server,
    encode,
)
from sidecar import tasks
from sidecar.backoff import Backoff

log = logging.getLogger("glassmesh.sidecar.config")
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024
CONNECT_TIMEOUT_S = 10.0


class Rejected(Exception):
    """The snapshot cannot be applied; the message is the NACK's reason."""


@dataclass(frozen=True)
class StreamSettings:
    """Where the stream goes and how it is kept alive."""

    url: str
    ping_s: float = 3.0
    backoff: Backoff = field(default_factory=lambda: Backoff(min_s=0.5, max_s=30.0))


Apply = Callable[[Snapshot], None]  # raises Rejected


class ConfigClient:
    """One stream at a time, reopened until closed. Counters are read by the admin API."""

    def __init__(
        self,
        settings: StreamSettings,
        tls: ssl.SSLContext,
        registration: Callable[[], Registration],
        apply: Apply,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.connected = False
        self.connects = 0
        self.applied = 0
        self.rejected = 0
        self.version: int | None = None  # of the last snapshot applied on the current stream
        self._tls = tls
        self._registration = registration
        self._apply = apply
        self._sleep = sleep
        self._rng = rng
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts connecting (and reconnecting) on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Closes the stream and stops reconnecting. Idempotent."""
        task, self._task = self._task, None
        await tasks.cancel([task])

    async def readiness_changed(self, ready: bool) -> None:
        """Tells the control plane, if connected (a new stream registers the current state)."""
        await self._send(ReadinessUpdate(ready=ready))

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                if await self._stream():
                    attempt = 0
                reason = "the control plane closed the stream"
            except (aiohttp.ClientError, OSError, TimeoutError, StreamError) as exc:
                reason = str(exc) or type(exc).__name__
            delay = self.settings.backoff.delay(attempt, self._rng())
            attempt += 1
            log.warning("config stream down (%s); reconnecting in %.1fs", reason, delay)
            await self._sleep(delay)

    async def _stream(self) -> bool:
        """Runs one stream until it ends; returns whether it delivered a snapshot."""
        url = self.settings.url.rstrip("/") + "/api/v1/stream"
        timeout = aiohttp.ClientWSTimeout(ws_close=5.0)
        delivered = False
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(connect=CONNECT_TIMEOUT_S)) as http,
            http.ws_connect(
                url,
                ssl=self._tls,
                heartbeat=self.settings.ping_s,
                max_msg_size=MAX_SNAPSHOT_BYTES,
                timeout=timeout,
            ) as ws,
        ):
            self._ws = ws
            try:
                await ws.send_bytes(encode(self._registration()))
                self.connected = True
                self.connects += 1
                log.info("config stream open to %s", self.settings.url)
                async for message in ws:
                    if message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                        await self._on_snapshot(message.data)
                        delivered = True
            finally:
                self._ws = None
                self.connected = False
        return delivered

    async def _on_snapshot(self, data: bytes | str) -> None:
        try:
            snapshot = decode_server(data)
        except StreamError as exc:
            # A snapshot we cannot read (a newer control plane's field, a bad value) is refused
            # like one we cannot apply; without even a version, the peer is broken: reconnect.
            version = _version_of(data)
            self.rejected += 1
            log.warning("config version %d unreadable: %s", version, exc)
            await self._send(Ack(version=version, error=f"unreadable: {exc}"[:MAX_ERROR_CHARS]))
            return
        try:
            self._apply(snapshot)
        except Rejected as exc:
            self.rejected += 1
            reason = str(exc)[:MAX_ERROR_CHARS]
            log.warning("config version %d refused: %s", snapshot.version, reason)
            await self._send(Ack(version=snapshot.version, error=reason))
            return
        self.applied += 1
        self.version = snapshot.version
        await self._send(Ack(version=snapshot.version))

    async def _send(self, message: ClientMessage) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            return
        with contextlib.suppress(ConnectionError, aiohttp.ClientError):
            await ws.send_bytes(encode(message))


class _Versioned(msgspec.Struct):
    version: Annotated[int, msgspec.Meta(ge=0)]


def _version_of(data: bytes | str) -> int:
    """The ``version`` of a push we cannot decode; raises StreamError if it has none."""
    try:
        return msgspec.json.decode(data, type=_Versioned).version
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise StreamError(f"a push without a version: {exc}") from None
