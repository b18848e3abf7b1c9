"""Config push: computes each connected sidecar's Snapshot and sends it when it changes.

A change of the store or the registry is noticed by polling their revisions (every POLL_S; the
registry also wakes the loop at once), then debounced: the push waits until nothing has changed
for DEBOUNCE_S (at most MAX_DELAY_S), so a burst of applies is one push. Each proxy gets a snapshot
only when its content differs from the last one it got. Leases are swept every lease_s / 3.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

import msgspec
from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from controlplane import routing, telemetry_config
from controlplane.api.identity import parse_spiffe_id
from controlplane.api.resources import (
    ROOT_NAMESPACE,
    AuthorizationPolicy,
    Fault,
    HTTPRoute,
    PeerAuthentication,
    Resource,
    TrafficPolicy,
)
from controlplane.api.snapshot import (
    MAX_ERROR_CHARS,
    Ack,
    ClientMessage,
    ReadinessUpdate,
    Registration,
    Snapshot,
    StreamError,
    decode_client,
    encode,
)
from controlplane.metrics import ControlPlaneMetrics
from controlplane.registry import InstanceKey, Registry
from controlplane.store import Store

log = logging.getLogger("glassmesh.controlplane.push")
POLL_S = 0.05
DEBOUNCE_S = 0.1
MAX_DELAY_S = 1.0
SEND_TIMEOUT_S = 5.0
REGISTER_TIMEOUT_S = 10.0
MAX_CLOSE_REASON = 123  # bytes (RFC 6455)


@dataclass
class Proxy:
    """One connected sidecar's stream and what it has been sent and has acknowledged."""

    identity: str
    registration: Registration
    key: InstanceKey
    connected_since: float
    ws: web.WebSocketResponse = field(repr=False)
    sent_version: int | None = None
    acked_version: int | None = None
    nack: str | None = None
    nack_version: int | None = None
    sent_content: bytes | None = field(default=None, repr=False)
    pending_since: float | None = None  # monotonic time of the change the last send carried

    def record(self, ack: Ack) -> bool | None:
        """Notes an ACK or NACK of a version we sent (others are ignored): True for an ACK,
        False for a NACK, None when ignored."""
        if self.sent_version is None or ack.version > self.sent_version:
            return None
        if ack.error is not None:
            self.nack = ack.error.encode("unicode_escape").decode()[:MAX_ERROR_CHARS]
            self.nack_version = ack.version
            log.info("%s refused version %d: %s", self.identity, ack.version, self.nack)
            return False
        self.acked_version = max(ack.version, self.acked_version or 0)
        if self.nack_version is not None and self.nack_version <= ack.version:
            self.nack = self.nack_version = None
        return True

    def status(self) -> dict[str, object]:
        """What ``/api/v1/proxies`` shows of this proxy."""
        return {
            "service": self.registration.service,
            "namespace": self.registration.namespace,
            "identity": self.identity,
            "address": self.key[1],
            "port": self.key[2],
            "connected_since": self.connected_since,
            "sent_version": self.sent_version,
            "acked_version": self.acked_version,
            "nack": self.nack,
        }


class Pusher:
    """Connected proxies and the task that pushes them snapshots. ``shutdown()`` is idempotent."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        trust_bundle_pem: str,
        metrics: ControlPlaneMetrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or ControlPlaneMetrics()
        self.metrics.connected = lambda: len(self.proxies)
        self.registry = registry
        self.trust_bundle_pem = trust_bundle_pem
        self.version = 0
        self.proxies: dict[int, Proxy] = {}
        self._seen: tuple[int, int] | None = None
        self._joined = False  # a proxy connected since the last push
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        registry.subscribe(self._wake.set)

    def start(self) -> None:
        """Starts the push loop and the lease sweeper on the running loop."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._push_loop()),
                asyncio.create_task(self._sweep()),
            ]

    async def shutdown(self) -> None:
        """Stops both tasks and closes every proxy's stream (going away)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for proxy in list(self.proxies.values()):
            await proxy.ws.close(code=WSCloseCode.GOING_AWAY, message=b"control plane stopping")

    def connected(self, proxy: Proxy) -> None:
        """Adds a proxy; it gets its first snapshot with the next push."""
        self.proxies[id(proxy)] = proxy
        self._joined = True
        self._wake.set()

    def disconnected(self, proxy: Proxy) -> None:
        """Forgets a proxy; its instance stays until its lease passes."""
        self.proxies.pop(id(proxy), None)

    def snapshot(self, namespace: str) -> Snapshot:
        """The current snapshot for a proxy in ``namespace``."""
        routes = [r for r in self.store.list("HTTPRoute") if isinstance(r, HTTPRoute)]
        policies = [p for p in self.store.list("TrafficPolicy") if isinstance(p, TrafficPolicy)]
        faults = [f for f in self.store.list("Fault") if isinstance(f, Fault)]
        peers = [
            p for p in self.store.list("PeerAuthentication") if isinstance(p, PeerAuthentication)
        ]
        return Snapshot(
            version=self.version,
            clusters=routing.clusters(self.registry, policies, namespace, peers),
            virtual_hosts=routing.virtual_hosts(routes, namespace, faults),
            trust_bundle_pem=self.trust_bundle_pem,
            telemetry=telemetry_config.rules(self.store.list("Telemetry"), namespace),
            authorization_policies=[
                p
                for p in self._scoped("AuthorizationPolicy", namespace)
                if isinstance(p, AuthorizationPolicy)
            ],
            peer_authentications=[
                p
                for p in self._scoped("PeerAuthentication", namespace)
                if isinstance(p, PeerAuthentication)
            ],
        )

    def _scoped(self, kind: str, namespace: str) -> list[Resource]:
        """Resources of ``kind`` in ``namespace`` and in the root namespace (mesh-wide)."""
        return [r for ns in sorted({namespace, ROOT_NAMESPACE}) for r in self.store.list(kind, ns)]

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.registry.lease_s / 3)
            self.registry.expire()

    async def _push_loop(self) -> None:
        while True:
            await self._wait_for_change()
            changed_at = time.monotonic()
            await self._settle()
            try:
                await self.push(changed_at)
            except Exception:  # our bug; it must not stop every later push
                log.exception("config push failed")

    def _revisions(self) -> tuple[int, int]:
        return (self.store.revision, self.registry.revision)

    def _pending(self) -> bool:
        return self._joined or self._revisions() != self._seen

    async def _wait_for_change(self) -> None:
        while not self._pending():
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)

    async def _settle(self) -> None:
        """Waits until the revisions hold still for DEBOUNCE_S, or MAX_DELAY_S has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MAX_DELAY_S
        last = self._revisions()
        while loop.time() < deadline:
            await asyncio.sleep(DEBOUNCE_S)
            now = self._revisions()
            if now == last:
                return
            last = now

    async def push(self, changed_at: float | None = None) -> None:
        """Sends every proxy whose snapshot changed its new snapshot (a new version if the store
        or registry changed since the last push). ``changed_at`` (monotonic) is when the change
        was noticed; push latency runs from there to each proxy's ACK."""
        changed_at = time.monotonic() if changed_at is None else changed_at
        self._joined = False
        self.registry.expire()
        if self._revisions() != self._seen:
            self._seen = self._revisions()
            self.version += 1
        proxies = list(self.proxies.values())
        # One snapshot per namespace, encoded once: what differs between proxies is which one
        # they already have, not its bytes.
        encoded = {}
        for namespace in {p.registration.namespace for p in proxies}:
            snapshot = self.snapshot(namespace)
            content = encode(msgspec.structs.replace(snapshot, version=0))
            encoded[namespace] = (snapshot.version, content, encode(snapshot))
        await asyncio.gather(
            *(self._send(p, changed_at, *encoded[p.registration.namespace]) for p in proxies)
        )

    async def _send(
        self, proxy: Proxy, changed_at: float, version: int, content: bytes, message: bytes
    ) -> None:
        """Sends ``message`` (snapshot ``version``) unless the proxy's last one had ``content``."""
        if content == proxy.sent_content or proxy.ws.closed:
            return
        try:
            await asyncio.wait_for(proxy.ws.send_bytes(message), SEND_TIMEOUT_S)
        except (ConnectionError, TimeoutError) as exc:
            log.info("push to %s failed: %s", proxy.identity, exc)
            self.metrics.push_failures += 1
            await proxy.ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"push failed")
            return
        proxy.sent_content, proxy.sent_version = content, version
        self.metrics.pushes += 1
        if proxy.pending_since is None:  # an unacknowledged earlier change keeps its start
            proxy.pending_since = changed_at

    def acknowledged(self, proxy: Proxy, ack: Ack) -> None:
        """Counts an ACK or NACK; the ACK of the newest version sent ends a push's latency."""
        outcome = proxy.record(ack)
        if outcome is False:
            self.metrics.nacks += 1
        elif outcome:
            self.metrics.acks += 1
            if proxy.pending_since is not None and ack.version == proxy.sent_version:
                self.metrics.push_latency.observe(time.monotonic() - proxy.pending_since)
                proxy.pending_since = None


class StreamRefused(Exception):
    """A sidecar broke the stream protocol; the stream is closed with this reason."""


async def serve_stream(pusher: Pusher, ws: web.WebSocketResponse, identity: str) -> None:
    """Runs one sidecar's stream until it closes: a Registration first, then Acks and
    ReadinessUpdates. A protocol error closes the stream (1008, the reason as close message);
    the instance stays registered until its lease passes, so a quick reconnect loses nothing."""
    proxy: Proxy | None = None
    try:
        registration = await _registration(ws, identity)
        key = pusher.registry.register(identity, registration)
        proxy = Proxy(identity, registration, key, pusher.registry.clock(), ws)
        pusher.connected(proxy)
        async for message in ws:
            await _handle(pusher, proxy, message)
    except StreamRefused as exc:
        reason = str(exc).encode()[:MAX_CLOSE_REASON].decode(errors="ignore").encode()
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=reason)
    finally:
        if proxy is not None:
            pusher.disconnected(proxy)


async def _registration(ws: web.WebSocketResponse, identity: str) -> Registration:
    try:
        async with asyncio.timeout(REGISTER_TIMEOUT_S):
            first = await ws.receive()
            while first.type in (WSMsgType.PING, WSMsgType.PONG):  # control frames may come first
                if first.type == WSMsgType.PING:
                    await ws.pong(first.data)
                first = await ws.receive()
    except TimeoutError:
        raise StreamRefused("no Registration in time") from None
    registration = _decode(first)
    if not isinstance(registration, Registration):
        raise StreamRefused("the first message must be a Registration")
    if parse_spiffe_id(identity).namespace != registration.namespace:
        raise StreamRefused(f"namespace {registration.namespace} is not the identity's")
    return registration


def _decode(message: WSMessage) -> ClientMessage:
    if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
        raise StreamRefused(f"expected a text or binary message, not {message.type.name}")
    try:
        return decode_client(message.data)
    except StreamError as exc:
        raise StreamRefused(f"malformed message: {exc}") from None


async def _handle(pusher: Pusher, proxy: Proxy, message: WSMessage) -> None:
    """Renews the lease (re-registering if it passed meanwhile), then acts on the message."""
    registry = pusher.registry
    if not registry.renew(proxy.key):
        registry.register(proxy.identity, proxy.registration)
    if message.type == WSMsgType.PING:
        await proxy.ws.pong(message.data)
    if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
        return
    decoded = _decode(message)
    if isinstance(decoded, Ack):
        pusher.acknowledged(proxy, decoded)
    elif isinstance(decoded, ReadinessUpdate):
        proxy.registration = msgspec.structs.replace(proxy.registration, ready=decoded.ready)
        registry.set_ready(proxy.key, decoded.ready)
    else:
        raise StreamRefused("already registered")
