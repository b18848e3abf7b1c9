"""A listener's shared state, and the sweeper that enforces its timeouts.

Deadlines are checked by one periodic sweep per listener rather than a timer per request: the
request path only stores timestamps, and a sweep costs nothing per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sidecar.http1.codec import DecoderLimits
from sidecar.http1.head import RequestHead
from sidecar.stats import ListenerStats

if TYPE_CHECKING:
    from sidecar.telemetry.hooks import ListenerTelemetry
    from sidecar.transport.downstream import DownstreamConnection
    from sidecar.transport.pool import Cluster


class Policy(Protocol):
    """What a listener does with a request: pick the cluster and write the upstream head."""

    def route(self, head: RequestHead, conn: DownstreamConnection) -> tuple[Cluster, bytes]:
        """The cluster to forward to and the request head to send it. Raises LocalReply to
        answer the request without forwarding it."""
        ...


@dataclass(frozen=True)
class Timeouts:
    """Deadlines of a listener, in seconds."""

    header_read_s: float
    idle_s: float
    request_s: float


@dataclass(eq=False)
class ListenerContext:
    """Everything the connections of one listener share."""

    name: str
    loop: asyncio.AbstractEventLoop
    policy: Policy
    timeouts: Timeouts
    decoder_limits: DecoderLimits
    buffer_bytes: int
    require_peer_id: bool = False
    peer_id_of: Callable[[asyncio.Transport], str | None] = lambda _t: None
    stats: ListenerStats = field(init=False)
    connections: set[DownstreamConnection] = field(default_factory=set)
    draining: bool = False
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    telemetry: ListenerTelemetry | None = None  # None: no telemetry hook runs at all

    def __post_init__(self) -> None:
        self.stats = ListenerStats(self.name)

    def forget(self, conn: DownstreamConnection) -> None:
        """A connection closed; wake a drain waiting for the last one."""
        self.connections.discard(conn)
        if self.draining and not self.connections:
            self.drained.set()

    def sweep(self) -> None:
        """Fire every deadline that has passed."""
        now = self.loop.time()
        t = self.timeouts
        for conn in list(self.connections):
            if conn.closing:
                continue
            if conn.in_request:
                if now - conn.request_started > (conn.timeout_s or t.request_s):
                    conn.on_timeout("request")
                elif conn.try_timeout_s and now - conn.try_started > conn.try_timeout_s:
                    conn.on_timeout("try")
            elif conn.head_started >= 0 and now - conn.head_started > t.header_read_s:
                conn.on_timeout("header")
            elif now - conn.last_active > t.idle_s:
                conn.on_timeout("idle")

    async def run_sweeper(self) -> None:
        """Sweep until cancelled, often enough to keep every deadline within a quarter of it
        (and within 250 ms)."""
        t = self.timeouts
        # Routes may set shorter timeouts than the listener's: they fire within 250 ms.
        interval = min(0.25, t.header_read_s / 4, t.request_s / 4, t.idle_s / 4)
        while True:
            await asyncio.sleep(interval)
            self.sweep()

    async def drain(self, deadline_s: float) -> None:
        """Stop keeping connections alive; wait (bounded) for in-flight exchanges to end."""
        self.draining = True
        for conn in list(self.connections):
            conn.close_when_idle()
        if not self.connections:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(deadline_s):
                await self.drained.wait()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
