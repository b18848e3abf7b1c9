"""Request mirroring: a copy of a request goes to another cluster; its answer is read and thrown
away, and nothing about it reaches the client or delays its response (Envoy's shadowing).

At most ``MAX_IN_FLIGHT`` copies are out at once per sidecar; past that a copy is dropped and
counted. A copy that fails is dropped too.
"""

from __future__ import annotations

from sidecar.http1.errors import ProtocolError
from sidecar.http1.head import RequestHead, ResponseHead
from sidecar.transport.pool import Cluster
from sidecar.transport.upstream import UpstreamConnection

MAX_IN_FLIGHT = 256


class MirrorStats:
    """Counters of the copies this sidecar sent."""

    __slots__ = ("dropped", "failed", "in_flight", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.in_flight = 0


STATS = MirrorStats()


class Mirror:
    """One copy of one request, from connect to the end of its (discarded) response."""

    __slots__ = ("_cluster", "_data", "_up")

    def __init__(self, cluster: Cluster, data: bytes) -> None:
        self._cluster = cluster
        self._data = data
        self._up: UpstreamConnection | None = None

    def send(self, head: RequestHead | None) -> None:
        """Starts the copy (or drops it when too many are out)."""
        if STATS.in_flight >= MAX_IN_FLIGHT:
            STATS.dropped += 1
            return
        STATS.in_flight += 1
        STATS.sent += 1
        conn = self._cluster.acquire(self._on_connected, head)
        if conn is not None:
            self._start(conn)

    def _on_connected(
        self, conn: UpstreamConnection | None, failure: tuple[int, str, str] | None
    ) -> None:
        if conn is None:
            self._done(failed=True)
            return
        self._start(conn)

    def _start(self, conn: UpstreamConnection) -> None:
        self._up = conn
        conn.attach(self)
        conn.write(self._data)

    def _done(self, *, failed: bool) -> None:
        STATS.in_flight -= 1
        STATS.failed += failed

    # what the upstream connection reports -----------------------------------------------------
    def on_response_head(self, head: ResponseHead) -> None:
        pass

    def on_response_body(self, data: bytes) -> None:
        pass

    def on_response_end(self) -> None:
        up, self._up = self._up, None
        if up is not None:
            self._cluster.release(up)
            self._done(failed=False)

    def on_upstream_error(self, conn: UpstreamConnection, error: ProtocolError | None) -> None:
        if conn is self._up:
            self._up = None
            self._cluster.discard(conn)
            self._done(failed=True)

    def on_upstream_upgraded(self, rest: bytes) -> None:
        if self._up is not None:  # a copy never becomes a tunnel
            self.on_upstream_error(self._up, None)

    def on_upstream_tunnel_data(self, data: bytes) -> None:
        pass

    def flush(self) -> None:
        pass

    def set_upstream_paused(self, paused: bool) -> None:
        pass
