"""Upstream clusters: endpoints, their keep-alive connection pools, and connecting.

A cluster picks an endpoint (round robin), hands out an idle pooled connection to it when there
is one, and otherwise opens a new one (mutual TLS to peer sidecars, plaintext to the local app).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from sidecar import local_reply
from sidecar.http1.codec import DecoderLimits
from sidecar.lb.round_robin import RoundRobin
from sidecar.transport.upstream import UpstreamConnection

# Called with a ready connection, or with None and the failure (status, flag, detail).
ConnectCallback = Callable[[UpstreamConnection | None, tuple[int, str, str] | None], None]


@dataclass(eq=False)
class Endpoint:
    """One upstream address and its idle connections (most recently used last)."""

    host: str
    port: int
    idle: list[UpstreamConnection] = field(default_factory=list)
    active: int = 0
    rq_total: int = 0
    cx_total: int = 0
    cx_connect_fail: int = 0
    retired: bool = False  # no longer in its cluster: a released connection is closed

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view for the admin API."""
        return {
            "address": f"{self.host}:{self.port}",
            "rq_total": self.rq_total,
            "cx_total": self.cx_total,
            "cx_active": self.active,
            "cx_idle": len(self.idle),
            "cx_connect_fail": self.cx_connect_fail,
        }


@dataclass(frozen=True)
class ClusterSettings:
    """How a cluster's connections are made and kept."""

    name: str
    ssl: ssl.SSLContext | None
    expected_id: str | None
    connect_timeout_s: float
    max_idle: int
    limits: DecoderLimits
    server_name: str = ""  # the TLS SNI; the cluster's name when empty


class Cluster:
    """A named set of endpoints with pooled connections to each."""

    def __init__(self, settings: ClusterSettings, endpoints: list[Endpoint]) -> None:
        self.settings = settings
        self.endpoints = endpoints
        self._lb = RoundRobin(endpoints)
        self._connecting: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return self.settings.name

    def acquire(self, callback: ConnectCallback) -> UpstreamConnection | None:
        """An idle live connection to the next endpoint, or None after starting a connect whose
        outcome goes to ``callback``."""
        endpoint = self._lb.pick()
        if endpoint is None:
            callback(None, local_reply.NO_HEALTHY)
            return None
        endpoint.rq_total += 1
        idle = endpoint.idle
        while idle:
            conn = idle.pop()
            if conn.alive:
                conn.uses += 1
                return conn
        task = asyncio.get_running_loop().create_task(self._connect(endpoint, callback))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)
        return None

    async def _connect(self, endpoint: Endpoint, callback: ConnectCallback) -> None:
        settings = self.settings
        loop = asyncio.get_running_loop()

        def factory() -> UpstreamConnection:
            return UpstreamConnection(endpoint, settings.expected_id, settings.limits)

        endpoint.cx_total += 1
        try:
            async with asyncio.timeout(settings.connect_timeout_s):
                _, conn = await loop.create_connection(
                    factory,
                    endpoint.host,
                    endpoint.port,
                    ssl=settings.ssl,
                    server_hostname=(settings.server_name or settings.name)
                    if settings.ssl
                    else None,
                )
        except TimeoutError:
            endpoint.cx_connect_fail += 1
            callback(None, local_reply.CONNECT_TIMEOUT)
            return
        except (OSError, ssl.SSLError):
            endpoint.cx_connect_fail += 1
            callback(None, local_reply.CONNECT_FAILED)
            return
        if not conn.identity_ok:
            endpoint.cx_connect_fail += 1
            callback(None, local_reply.IDENTITY)
            return
        callback(conn, None)

    def set_endpoints(self, addresses: list[tuple[str, int]]) -> None:
        """Serve ``addresses`` from now on. An endpoint that stays keeps its pooled connections
        and counters; one that goes has its idle connections closed (busy ones finish first)."""
        kept: dict[tuple[str, int], Endpoint] = {(e.host, e.port): e for e in self.endpoints}
        endpoints = [kept.pop(a) if a in kept else Endpoint(a[0], a[1]) for a in addresses]
        for gone in kept.values():
            gone.retired = True
            _close_idle(gone)
        self.endpoints = endpoints
        self._lb = RoundRobin(endpoints)

    def release(self, conn: UpstreamConnection) -> None:
        """Return a connection whose exchange finished cleanly; it is kept if there is room (and
        the cluster and its endpoint are still in use)."""
        conn.detach()
        endpoint = conn.endpoint
        idle = endpoint.idle
        if conn.alive and len(idle) < self.settings.max_idle and not endpoint.retired:
            idle.append(conn)
        else:
            self.discard(conn)

    def discard(self, conn: UpstreamConnection) -> None:
        """Close a connection that must not be reused."""
        conn.close()

    def retire(self) -> None:
        """The cluster left the config: close its idle connections now and every busy one when
        it is released. Connects under way finish and serve the requests waiting on them."""
        for endpoint in self.endpoints:
            endpoint.retired = True
            _close_idle(endpoint)

    async def close(self) -> None:
        """Stop pending connects and close every idle connection; connections released later
        are closed too. Idempotent."""
        for endpoint in self.endpoints:
            endpoint.retired = True
        for task in list(self._connecting):
            task.cancel()
        for task in list(self._connecting):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for endpoint in self.endpoints:
            _close_idle(endpoint)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view for the admin API."""
        return {
            "name": self.name,
            "tls": "mtls" if self.settings.ssl else "plaintext",
            "identity": self.settings.expected_id,
            "endpoints": [e.as_dict() for e in self.endpoints],
        }


def _close_idle(endpoint: Endpoint) -> None:
    for conn in endpoint.idle:
        conn.close()
    endpoint.idle.clear()
