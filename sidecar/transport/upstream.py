"""One connection to an upstream endpoint: writes requests, decodes responses for its owner.

An upstream connection serves one exchange at a time. Its owner (the downstream connection whose
request it carries) receives the decoded response events; between exchanges it idles in its
endpoint's pool and has no owner.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol, cast

from sidecar.http1.codec import DecoderLimits, ResponseDecoder
from sidecar.http1.errors import ProtocolError
from sidecar.http1.head import ResponseHead
from sidecar.transport.tls import peer_spiffe_id

if TYPE_CHECKING:
    from sidecar.transport.pool import Endpoint


class Owner(Protocol):
    """What an upstream connection reports to the exchange that uses it."""

    def on_response_head(self, head: ResponseHead) -> None: ...
    def on_response_body(self, data: bytes) -> None: ...
    def on_response_end(self) -> None: ...
    def on_upstream_error(self, conn: UpstreamConnection, error: ProtocolError | None) -> None: ...
    def on_upstream_upgraded(self, rest: bytes) -> None: ...
    def on_upstream_tunnel_data(self, data: bytes) -> None: ...
    def flush(self) -> None: ...
    def set_upstream_paused(self, paused: bool) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    """Client side of an HTTP/1.1 connection to one endpoint (plaintext or mutual TLS)."""

    __slots__ = (
        "alive",
        "decoder",
        "endpoint",
        "expected_ids",
        "identity_ok",
        "owner",
        "transport",
        "tunnel",
        "uses",
    )

    def __init__(
        self, endpoint: Endpoint, expected_ids: frozenset[str] | None, limits: DecoderLimits
    ) -> None:
        self.endpoint = endpoint
        self.expected_ids = expected_ids
        self.decoder = ResponseDecoder(self, limits)
        self.transport: asyncio.Transport | None = None
        self.owner: Owner | None = None
        self.alive = False
        self.identity_ok = expected_ids is None
        self.tunnel = False
        self.uses = 0

    # asyncio callbacks ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport = transport
        if self.expected_ids is not None:
            # Secure naming: the peer must be a workload registered for the cluster's service.
            self.identity_ok = peer_spiffe_id(transport.get_extra_info("peercert")) in (
                self.expected_ids
            )
            if not self.identity_ok:
                transport.abort()
                return
        self.alive = True
        self.endpoint.active += 1
        transport.set_write_buffer_limits(high=256 * 1024)

    def data_received(self, data: bytes) -> None:
        owner = self.owner
        if self.tunnel and owner is not None:
            owner.on_upstream_tunnel_data(data)
            return
        if owner is None:
            # Bytes with no request outstanding: the upstream is confused; never reuse it.
            self.close()
            return
        try:
            offset = self.decoder.feed(data)
        except ProtocolError as exc:
            self.close()
            owner.on_upstream_error(self, exc)
            return
        if offset >= 0 and self.owner is owner:
            self.tunnel = True
            owner.on_upstream_upgraded(data[offset:])
        owner.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.identity_ok:
            self.endpoint.active -= 1
        self.alive = False
        owner = self.owner
        self.detach()
        if owner is not None:
            owner.on_upstream_error(self, None)

    def pause_writing(self) -> None:
        if self.owner is not None:
            self.owner.set_upstream_paused(True)

    def resume_writing(self) -> None:
        if self.owner is not None:
            self.owner.set_upstream_paused(False)

    # decoder sink while no exchange is attached --------------------------------------------
    def on_response_head(self, head: ResponseHead) -> None:
        self.close()  # a response nobody asked for: never reuse this connection

    def on_response_body(self, data: bytes) -> None:
        self.close()

    def on_response_end(self) -> None:
        self.close()

    # used by the owner ------------------------------------------------------------------------
    def attach(self, owner: Owner) -> None:
        """Serve ``owner``'s exchange: response events go straight to it."""
        self.owner = owner
        self.decoder.sink = owner

    def detach(self) -> None:
        """The exchange is over; stray response events now come back here (and close us)."""
        self.owner = None
        self.decoder.sink = self

    def write(self, data: bytes) -> None:
        """Send bytes; a no-op once the connection is gone (the loss is reported separately)."""
        if self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        """Abort the connection without reporting it to the owner."""
        self.alive = False
        self.detach()
        if self.transport is not None:
            self.transport.abort()
