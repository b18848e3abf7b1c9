"""The request path's side of telemetry: one small record per exchange, handed off in O(1).

A listener with telemetry calls ``on_request`` when its policy routes a request (it returns the
trace-context and peer-metadata lines to send upstream), ``Exchange.respond`` when the response
head arrives, ``on_reply`` when the sidecar answers itself, and ``on_complete`` when the exchange
ends. Those store a few timestamps, ints and references to objects that exist anyway (the request
head, the cluster, the endpoint) in an ``Exchange`` and append it to a bounded deque; everything
else (labels, spans, log lines, protobuf, HTTP) happens in the exporter thread. When the deque is
full the exchange is dropped and counted: telemetry never holds a request up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from random import random
from typing import TYPE_CHECKING, Final

from controlplane.api.telemetry import FORCE_TRACE
from sidecar.http1.head import RequestHead, ResponseHead
from sidecar.telemetry import context

if TYPE_CHECKING:
    from sidecar.transport.downstream import DownstreamConnection
    from sidecar.transport.pool import Cluster, Endpoint
    from sidecar.transport.upstream import UpstreamConnection

_LOOK_FIELDS: Final[frozenset[bytes]] = context.TRACE_FIELDS | {FORCE_TRACE}
_PEER: Final[bytes] = b"x-glassmesh-peer"


class Sink:
    """The bounded hand-off from the event loop to the exporter thread (deque appends and pops
    are atomic, so no lock is taken on the request path)."""

    def __init__(self, capacity: int) -> None:
        self.queue: deque[Exchange] = deque()
        self.capacity = capacity
        self.dropped = 0

    def put(self, exchange: Exchange) -> None:
        if len(self.queue) < self.capacity:
            self.queue.append(exchange)
        else:
            self.dropped += 1


class Exchange:
    """What one request/response exchange leaves for telemetry. Times are the loop's clock."""

    __slots__ = (
        "authority",
        "cluster",
        "end",
        "endpoint",
        "flag",
        "head",
        "parent_id",
        "path",
        "peer_address",
        "peer_id",
        "peer_meta",
        "rx",
        "sampled",
        "side",
        "span_id",
        "start",
        "status",
        "trace_id",
        "tunnel",
        "tx",
    )

    def __init__(
        self,
        side: ListenerTelemetry,
        head: RequestHead | None,
        start: float,
        path: bytes,
        authority: bytes,
    ) -> None:
        self.side = side
        self.head = head
        self.start = start
        self.end = start
        self.path = path
        self.authority = authority
        self.trace_id = b""  # ids in hex, as they travel
        self.span_id = b""
        self.parent_id = b""
        self.sampled = False
        self.cluster: Cluster | None = None
        self.endpoint: Endpoint | None = None
        self.status = 0
        self.flag = ""
        self.peer_id = ""
        self.peer_meta = b""
        self.peer_address = ""
        self.rx = 0
        self.tx = 0
        self.tunnel = False

    def respond(
        self, head: ResponseHead, up: UpstreamConnection | None, lines: list[bytes]
    ) -> None:
        """The response head arrived (from ``up``): note its status, the endpoint and the peer's
        metadata; append the response lines this side adds to ``lines``."""
        self.status = head.status
        self.tunnel = head.status == 101
        if up is not None:
            self.endpoint = up.endpoint
        names = head.names
        if _PEER in names:
            self.peer_meta = head.values[names.index(_PEER)]
        lines += self.side.response_lines


class ListenerTelemetry:
    """Telemetry hooks of one listener. ``sample_ratio`` (0..1) may be replaced at any time.

    ``request_lines`` go upstream with every request and ``response_lines`` back with every
    response (this sidecar's workload metadata, for the peer sidecar's metric labels)."""

    def __init__(
        self,
        inbound: bool,
        sink: Sink,
        clock: Callable[[], float],
        *,
        request_lines: list[bytes],
        response_lines: list[bytes],
        sample_ratio: float,
    ) -> None:
        self.inbound = inbound
        self.sink = sink
        self.clock = clock
        self.request_lines = request_lines
        self.response_lines = response_lines
        self.sample_ratio = sample_ratio
        self.ids = context.IdSource()

    def _begin(
        self, conn: DownstreamConnection, head: RequestHead | None, path: bytes, authority: bytes
    ) -> context.Incoming | None:
        """Starts ``conn.exchange``: its trace, span and sampling decision (parent-based, then
        ``sample_ratio``; ``x-glassmesh-trace: 1`` forces it). Returns the context read."""
        ex = Exchange(self, head, self.clock(), path, authority)
        ex.rx = conn.bytes_in
        ex.tx = conn.bytes_out
        if conn.peer_id is not None:
            ex.peer_id = conn.peer_id
        incoming: context.Incoming | None = None
        if head is not None and not _LOOK_FIELDS.isdisjoint(head.names):
            incoming = context.parse(head.names, head.values)
            if self.inbound and _PEER in head.names:
                ex.peer_meta = head.values[head.names.index(_PEER)]
        elif head is not None and self.inbound and _PEER in head.names:
            ex.peer_meta = head.values[head.names.index(_PEER)]
        if incoming is not None and incoming.trace_id:
            ex.trace_id = incoming.trace_id
            ex.parent_id = incoming.parent_id
            decided = incoming.sampled
        else:
            ex.trace_id = self.ids.trace_id()
            decided = context.SAMPLED_UNKNOWN if incoming is None else incoming.sampled
        if decided == context.SAMPLED_UNKNOWN:
            ex.sampled = random() < self.sample_ratio
        else:
            ex.sampled = decided == 1
        if incoming is not None and incoming.forced:
            ex.sampled = True
        ex.span_id = self.ids.span_id()
        conn.exchange = ex
        return incoming

    def on_request(
        self, head: RequestHead, conn: DownstreamConnection, cluster: Cluster, path: bytes
    ) -> list[bytes]:
        """A request is routed to ``cluster``: start its record. Returns the lines to add to the
        upstream head (the forwarded head must drop ``context.REPLACED_FIELDS``)."""
        incoming = self._begin(conn, head, path, head.host)
        ex = conn.exchange
        assert ex is not None
        ex.cluster = cluster
        style, state = context.W3C, b""
        if incoming is not None:
            style, state = incoming.style, incoming.tracestate
        out = context.lines(ex.trace_id, ex.span_id, ex.sampled, style, state)
        out += self.request_lines
        return out

    def on_reply(
        self, conn: DownstreamConnection, head: RequestHead | None, status: int, flag: str
    ) -> None:
        """The sidecar answers the request itself with ``status`` and response ``flag``."""
        ex = conn.exchange
        if ex is None:
            target = b"" if head is None else head.target
            self._begin(conn, head, target, b"" if head is None else head.host)
            ex = conn.exchange
            assert ex is not None
        ex.status = status
        ex.flag = flag

    def on_complete(self, conn: DownstreamConnection, flag: str) -> None:
        """The exchange of ``conn`` ended (``flag`` set if it was cut short): hand it off."""
        ex = conn.exchange
        if ex is None:
            return
        conn.exchange = None
        ex.end = self.clock()
        ex.rx = conn.bytes_in - ex.rx
        ex.tx = conn.bytes_out - ex.tx
        if flag and not ex.flag:
            ex.flag = flag
        if ex.sampled and conn.transport is not None:
            peer = conn.transport.get_extra_info("peername")
            if isinstance(peer, tuple) and len(peer) >= 2:
                ex.peer_address = f"{peer[0]}:{peer[1]}"
        self.sink.put(ex)


def head_size(head: RequestHead | None) -> int:
    """The size of a request head as it came on the wire (a record counts body bytes only).

    For the exporter thread's metrics; here because this module is compiled (a C loop)."""
    if head is None:
        return 0
    size = len(head.method) + len(head.target) + 12
    for name in head.names:
        size += len(name) + 4
    for value in head.values:
        size += len(value)
    return size
