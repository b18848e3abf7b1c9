"""Upstream clusters: endpoints, their keep-alive connection pools, and connecting.

A cluster picks an endpoint with its load balancer, over the endpoints outlier detection has not
ejected (or over all of them below the panic threshold), hands out an idle pooled connection to it
when there is one, and otherwise opens a new one (mutual TLS to peer sidecars, plaintext to the
local app). Circuit breakers bound it: past ``max_connections`` a request waits for a connection
to come free, past ``max_pending_requests`` it is answered 503 UO at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from controlplane.api.sidecar import (
    CircuitBreakersConfig,
    LoadBalancerConfig,
    OutlierDetectionConfig,
)
from sidecar import local_reply
from sidecar.http1.codec import DecoderLimits
from sidecar.http1.head import RequestHead
from sidecar.lb.random_pick import LeastRequest, RandomPick
from sidecar.lb.ring_hash import RingHash, cookie_key, header_key
from sidecar.lb.round_robin import RoundRobin
from sidecar.transport.outlier import OutlierDetector
from sidecar.transport.upstream import UpstreamConnection

# Called with a ready connection, or with None and the failure (status, flag, detail).
ConnectCallback = Callable[[UpstreamConnection | None, tuple[int, str, str] | None], None]
Balancer = RoundRobin["Endpoint"] | RandomPick["Endpoint"] | LeastRequest["Endpoint"]
HashBalancer = RingHash["Endpoint"]


@dataclass(eq=False)
class Endpoint:
    """One upstream address, its idle connections (most recently used last) and its health."""

    host: str
    port: int
    idle: list[UpstreamConnection] = field(default_factory=list)
    active: int = 0  # open connections, idle or busy
    connecting: int = 0
    rq_total: int = 0
    cx_total: int = 0
    cx_connect_fail: int = 0
    retired: bool = False  # no longer in its cluster: a released connection is closed
    consecutive_5xx: int = 0
    consecutive_gateway: int = 0
    ejected_until: float = 0.0  # > 0 while ejected by outlier detection
    ejections: int = 0
    returned_at: float = 0.0  # when its last ejection ended

    def load(self) -> int:
        """Requests in flight (HTTP/1.1: busy connections and connects under way)."""
        return self.active - len(self.idle) + self.connecting

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view for the admin API."""
        return {
            "address": f"{self.host}:{self.port}",
            "rq_total": self.rq_total,
            "cx_total": self.cx_total,
            "cx_active": self.active,
            "cx_idle": len(self.idle),
            "cx_connect_fail": self.cx_connect_fail,
            "ejected": self.ejected_until > 0.0,
            "ejections": self.ejections,
        }


@dataclass(frozen=True)
class ClusterSettings:
    """How a cluster's connections are made, kept, balanced and bounded."""

    name: str
    ssl: ssl.SSLContext | None
    expected_ids: frozenset[str] | None  # a peer must present one of these SPIFFE IDs
    connect_timeout_s: float
    max_idle: int
    limits: DecoderLimits
    server_name: str = ""  # the TLS SNI; the cluster's name when empty
    load_balancer: LoadBalancerConfig = field(default_factory=LoadBalancerConfig)
    circuit_breakers: CircuitBreakersConfig = field(default_factory=CircuitBreakersConfig)
    outlier_detection: OutlierDetectionConfig | None = None
    panic_threshold_percent: float = 50.0
    clock: Callable[[], float] = time.monotonic


class Cluster:
    """A named set of endpoints with pooled connections to each."""

    def __init__(self, settings: ClusterSettings, endpoints: list[Endpoint]) -> None:
        self.settings = settings
        self.endpoints = endpoints
        self.overflows = 0
        self.retries_active = 0  # requests on a retry, against the retry budget
        lb = settings.load_balancer
        self._hash_header = lb.hash_header.lower().encode() if lb.hash_header else None
        self._hash_cookie = lb.hash_cookie.encode() if lb.hash_cookie else None
        od = settings.outlier_detection
        self.outlier = OutlierDetector(od, settings.clock) if od is not None else None
        self._next_return = 0.0
        self._pending: deque[tuple[ConnectCallback, RequestHead | None]] = deque()
        self._connecting: set[asyncio.Task[None]] = set()
        self._lb: Balancer | None = None
        self._ring: HashBalancer | None = None
        self._rebalance()

    @property
    def name(self) -> str:
        return self.settings.name

    # picking ----------------------------------------------------------------------------------
    def _rebalance(self) -> None:
        """Rebuilds the balancer over the endpoints that may take traffic now."""
        healthy = [e for e in self.endpoints if e.ejected_until == 0.0]
        panic = len(healthy) * 100.0 < self.settings.panic_threshold_percent * len(self.endpoints)
        usable = self.endpoints if panic else healthy
        policy = self.settings.load_balancer.policy
        self._lb, self._ring = None, None
        if policy == "ring_hash":
            self._ring = RingHash(usable, _address)
        elif policy == "least_request":
            self._lb = LeastRequest(usable, Endpoint.load)
        elif policy == "random":
            self._lb = RandomPick(usable)
        else:
            self._lb = RoundRobin(usable)
        if self.outlier is not None:
            self._next_return = self.outlier.next_return(self.endpoints)

    def _pick(self, head: RequestHead | None) -> Endpoint | None:
        if self._next_return and self.settings.clock() >= self._next_return:
            assert self.outlier is not None
            self.outlier.readmit(self.endpoints)
            self._rebalance()
        if self._lb is not None:
            return self._lb.pick(None)
        assert self._ring is not None
        key = None
        if head is not None:
            if self._hash_header is not None:
                key = header_key(head, self._hash_header)
            elif self._hash_cookie is not None:
                key = cookie_key(head, self._hash_cookie)
        return self._ring.pick(key)

    def acquire(
        self, callback: ConnectCallback, head: RequestHead | None = None
    ) -> UpstreamConnection | None:
        """An idle live connection to the picked endpoint, or None after starting a connect (or
        queueing the request) whose outcome goes to ``callback``. ``head`` feeds ring hashing."""
        endpoint = self._pick(head)
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
        breakers = self.settings.circuit_breakers
        if self.connections() >= breakers.max_connections:
            if len(self._pending) >= breakers.max_pending_requests:
                self.overflows += 1
                callback(None, local_reply.OVERFLOW)
            else:
                self._pending.append((callback, head))
            return None
        self._start_connect(endpoint, callback)
        return None

    def active_requests(self) -> int:
        """Requests in flight or waiting for a connection."""
        return sum(e.load() for e in self.endpoints) + len(self._pending)

    def connections(self) -> int:
        """Connections open or being opened, over every endpoint."""
        return sum(e.active + e.connecting for e in self.endpoints)

    # connecting -------------------------------------------------------------------------------
    def _start_connect(self, endpoint: Endpoint, callback: ConnectCallback) -> None:
        endpoint.connecting += 1
        task = asyncio.get_running_loop().create_task(self._connect(endpoint, callback))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _connect(self, endpoint: Endpoint, callback: ConnectCallback) -> None:
        try:
            conn = await self._open(endpoint)
        finally:
            endpoint.connecting -= 1
        if isinstance(conn, tuple):
            endpoint.cx_connect_fail += 1
            self.observe(endpoint, 503)
            callback(None, conn)
            self._serve_pending()
            return
        callback(conn, None)

    async def _open(self, endpoint: Endpoint) -> UpstreamConnection | tuple[int, str, str]:
        settings = self.settings
        loop = asyncio.get_running_loop()

        def factory() -> UpstreamConnection:
            return UpstreamConnection(endpoint, settings.expected_ids, settings.limits)

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
            return local_reply.CONNECT_TIMEOUT
        except (OSError, ssl.SSLError):
            return local_reply.CONNECT_FAILED
        if not conn.identity_ok:
            return local_reply.IDENTITY
        return conn

    # outcomes ---------------------------------------------------------------------------------
    def observe(self, endpoint: Endpoint, status: int) -> None:
        """Feeds one outcome of a request to ``endpoint`` to outlier detection (a connect
        failure or reset counts as 503)."""
        outlier = self.outlier
        if outlier is not None and outlier.record(endpoint, status, self.endpoints):
            self._rebalance()

    def release(self, conn: UpstreamConnection) -> None:
        """Return a connection whose exchange finished cleanly: to a waiting request, or to the
        idle pool if there is room (and the cluster and its endpoint are still in use)."""
        conn.detach()
        endpoint = conn.endpoint
        limit = self.settings.circuit_breakers.max_requests_per_connection
        if not conn.alive or endpoint.retired or (limit and conn.uses + 1 >= limit):
            self.discard(conn)
            return
        if self._pending:
            callback, _ = self._pending.popleft()
            conn.uses += 1
            callback(conn, None)
        elif len(endpoint.idle) < self.settings.max_idle:
            endpoint.idle.append(conn)
        else:
            self.discard(conn)

    def discard(self, conn: UpstreamConnection) -> None:
        """Close a connection that must not be reused."""
        conn.close()
        self._serve_pending()

    def _serve_pending(self) -> None:
        """Starts connects for waiting requests while there is room under max_connections."""
        limit = self.settings.circuit_breakers.max_connections
        while self._pending and self.connections() < limit:
            callback, head = self._pending.popleft()
            endpoint = self._pick(head)
            if endpoint is None:
                callback(None, local_reply.NO_HEALTHY)
                continue
            self._start_connect(endpoint, callback)

    # config changes and shutdown --------------------------------------------------------------
    def set_endpoints(self, addresses: list[tuple[str, int]]) -> None:
        """Serve ``addresses`` from now on. An endpoint that stays keeps its pooled connections,
        counters and health; one that goes has its idle connections closed (busy ones finish
        first)."""
        kept: dict[tuple[str, int], Endpoint] = {(e.host, e.port): e for e in self.endpoints}
        endpoints = [kept.pop(a) if a in kept else Endpoint(a[0], a[1]) for a in addresses]
        for gone in kept.values():
            gone.retired = True
            _close_idle(gone)
        self.endpoints = endpoints
        self._rebalance()

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
        ids = self.settings.expected_ids
        return {
            "name": self.name,
            "tls": "mtls" if self.settings.ssl else "plaintext",
            "identities": sorted(ids) if ids else [],
            "load_balancer": self.settings.load_balancer.policy,
            "pending": len(self._pending),
            "overflows": self.overflows,
            "ejections_total": self.outlier.ejections_total if self.outlier else 0,
            "endpoints": [e.as_dict() for e in self.endpoints],
        }


def _address(endpoint: Endpoint) -> str:
    return f"{endpoint.host}:{endpoint.port}"


def _close_idle(endpoint: Endpoint) -> None:
    for conn in endpoint.idle:
        conn.close()
    endpoint.idle.clear()
