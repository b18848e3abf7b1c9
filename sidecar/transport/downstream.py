"""One downstream connection: decodes its requests, forwards each to an upstream connection and
streams the response back, one exchange at a time and in order.

Bytes flow through in both directions without a whole body ever being held: what one side
delivers in a read is written to the other side once the read is decoded (so a head and the first
body bytes leave in one write), and when a side's write buffer fills, the other side stops reading
until it drains.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, cast

from sidecar import local_reply, retry, stats
from sidecar.http1 import encode
from sidecar.http1.codec import RequestDecoder
from sidecar.http1.errors import ProtocolError
from sidecar.http1.head import RequestHead, ResponseHead
from sidecar.local_reply import LocalReply
from sidecar.mirror import Mirror
from sidecar.transport.upstream import UpstreamConnection

if TYPE_CHECKING:
    from sidecar.filters import Modifier
    from sidecar.telemetry.hooks import Exchange
    from sidecar.transport.listener import ListenerContext
    from sidecar.transport.pool import Cluster

log = logging.getLogger("glassmesh.sidecar")
_RESPONSE_DROP = encode.HOP_BY_HOP | {b"x-glassmesh-peer"}  # a peer sidecar's, for telemetry
# Why reading from the downstream is paused (a bit each); it resumes when none is left.
_PAUSE_UPSTREAM_FULL = 1
_PAUSE_PIPELINED = 2


class DownstreamConnection(asyncio.Protocol):
    """Server side of a connection from a client (the local app, or a peer sidecar)."""

    def __init__(self, ctx: ListenerContext) -> None:
        self.ctx = ctx
        self.transport: asyncio.Transport | None = None
        self.decoder = RequestDecoder(self, ctx.decoder_limits)
        self.peer_id: str | None = None
        self.closing = False
        self._paused = 0
        self._up: UpstreamConnection | None = None
        self._cluster: Cluster | None = None
        self._to_up: list[bytes] = []
        self._to_up_size = 0
        self._to_down: list[bytes] = []
        self.bytes_in = 0  # wire bytes, both ways, for telemetry
        self.bytes_out = 0
        self.exchange: Exchange | None = None  # the telemetry record of the current exchange
        self._retrying = False  # this exchange counts against its cluster's retry budget
        self._exchange_id = 0
        self._reset_exchange()
        self.head_started = -1.0
        self.last_active = ctx.loop.time()

    def _reset_exchange(self) -> None:
        if self._retrying and self._cluster is not None:
            self._cluster.retries_active -= 1
        self._retrying = False
        self._exchange_id += 1
        self.retry_policy = retry.NEVER  # the listener's policy sets the route's
        self.delay_s = 0.0  # an injected delay before the request goes upstream
        self.mirror: Cluster | None = None  # where a copy of the request goes
        self.response_modifier: Modifier | None = None
        self.timeout_s = 0.0  # 0: the listener's request timeout
        self.try_timeout_s = 0.0
        self.try_started = 0.0
        self._attempt = 0
        self._replay: list[bytes] | None = None
        self._replay_size = 0
        self.in_request = False
        self.request_started = 0.0
        self._head: RequestHead | None = None
        self._discard_body = False
        self._request_done = False
        self._req_chunked = False
        self._resp_started = False
        self._resp_chunked = False
        self._resp_until_close = False
        self._skip_interim = False
        self._keep_alive = True
        self._upgrade = False
        self._tunnel = False
        self._tunnel_rest = b""
        self._retry_head = b""
        self._switching = False

    # asyncio callbacks ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport = transport
        ctx = self.ctx
        ctx.stats.cx_total += 1
        ctx.stats.cx_active += 1
        if ctx.require_peer_id:
            self.peer_id = ctx.peer_id_of(transport)
            if self.peer_id is None:
                transport.abort()  # a mesh peer must present exactly one SPIFFE ID
                return
        transport.set_write_buffer_limits(high=ctx.buffer_bytes)
        ctx.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        if self._tunnel:
            if self._up is not None:
                self._up.write(data)
            return
        if not self.in_request and self.head_started < 0:
            self.head_started = self.ctx.loop.time()
        try:
            offset = self.decoder.feed(data)
        except ProtocolError as exc:
            self._protocol_error(exc)
            return
        except Exception:
            # Our bug, not the peer's: log it and drop this connection, never the process.
            log.exception("internal error on %s connection", self.ctx.name)
            self._abort()
            return
        if offset >= 0:
            self._tunnel_rest += data[offset:]
        self._flush_up()
        if self.decoder.deferred:
            self._pause(_PAUSE_PIPELINED)

    def eof_received(self) -> bool | None:
        # A half-close from a client that has sent its request still lets us answer it
        # (plain TCP only: a TLS transport closes regardless).
        return bool(self.in_request) and not self.ctx.require_peer_id

    def connection_lost(self, exc: Exception | None) -> None:
        ctx = self.ctx
        ctx.stats.cx_active -= 1
        ctx.forget(self)
        self.closing = True
        if self.exchange is not None:  # cut short, or a tunnel's end
            self.exchange.side.on_complete(self, "" if self._tunnel else stats.DOWNSTREAM_CLOSED)
        if self._retrying and self._cluster is not None:
            self._cluster.retries_active -= 1  # give back the retry budget we held
            self._retrying = False
        up = self._up
        if up is not None:
            self._up = None
            if self.in_request and not self._tunnel:
                ctx.stats.flags[stats.DOWNSTREAM_CLOSED] += 1
            up.close()

    def pause_writing(self) -> None:
        if self._up is not None and self._up.transport is not None:
            self._up.transport.pause_reading()

    def resume_writing(self) -> None:
        if self._up is not None and self._up.transport is not None:
            self._up.transport.resume_reading()

    # request events (from the decoder) --------------------------------------------------------
    def on_request_head(self, head: RequestHead) -> None:
        if self.closing:
            return
        ctx = self.ctx
        ctx.stats.rq_total += 1
        self.in_request = True
        self.head_started = -1.0
        self.request_started = ctx.loop.time()
        self._head = head
        self._keep_alive = head.keep_alive and not ctx.draining
        try:
            cluster, head_bytes = ctx.policy.route(head, self)
        except LocalReply as reply:
            self._discard_body = True
            self._keep_alive = self._keep_alive and not head.has_body
            self._reply(reply.status, reply.flag, reply.detail)
            return
        self._cluster = cluster
        self._req_chunked = head.chunked
        self._upgrade = head.upgrading
        if head.expect_continue:
            self._to_down.append(encode.CONTINUE)
            self.flush()  # the client waits for it before sending the body
        self._to_up.append(head_bytes)
        self._to_up_size += len(head_bytes)
        self.try_started = self.request_started
        # Kept only for what may send the request again: a retry or a mirror (never inbound).
        if not self._upgrade and (self.retry_policy.attempts or self.mirror is not None):
            self._replay = [head_bytes]
            self._replay_size = len(head_bytes)
        if not head.has_body:
            self._retry_head = head_bytes
        if self.delay_s:
            ctx.stats.flags[stats.FAULT_DELAY] += 1
            ctx.loop.call_later(self.delay_s, self._go_upstream, self._exchange_id)
            return
        conn = cluster.acquire(self._on_connected, head)
        if conn is not None:
            self._bind(conn)

    def on_request_body(self, data: bytes) -> None:
        if self._discard_body or self.closing:
            return
        if self._req_chunked:
            data = encode.chunk(data)
        self._to_up.append(data)
        self._to_up_size += len(data)
        replay = self._replay
        if replay is not None:
            self._replay_size += len(data)
            if self._replay_size > retry.REPLAY_LIMIT:
                self._replay = None  # too long to keep: this request is not retried
            else:
                replay.append(data)
        if self._up is None and self._to_up_size > self.ctx.buffer_bytes:
            self._pause(_PAUSE_UPSTREAM_FULL)

    def on_request_end(self) -> None:
        if self.closing:
            return
        self._request_done = True
        if self._discard_body:
            self._finish()  # the local reply has been sent; the body it did not need is read
            return
        if self._req_chunked:
            self._to_up.append(encode.LAST_CHUNK)
            if self._replay is not None:
                self._replay.append(encode.LAST_CHUNK)
        if self.mirror is not None and self._replay is not None:
            Mirror(self.mirror, b"".join(self._replay)).send(self._head)

    # upstream binding -------------------------------------------------------------------------
    def _on_connected(
        self, conn: UpstreamConnection | None, failure: tuple[int, str, str] | None
    ) -> None:
        if self.closing or not self.in_request or self._resp_started:
            if conn is not None and self._cluster is not None:
                self._cluster.release(conn)
            return
        if conn is None:
            assert failure is not None
            # No endpoint (UH) or a full pool (UO) would be the same on the next try.
            connect_failed = failure[1] == stats.UPSTREAM_FAILURE
            if not (connect_failed and self._try_again(retry.CONNECT)):
                self._fail(*failure)
            return
        self._bind(conn)
        self._flush_up()

    def _bind(self, conn: UpstreamConnection) -> None:
        self._up = conn
        conn.attach(self)
        if self._head is not None and self._head.method == b"HEAD":
            conn.decoder.expect_head_response()

    def _flush_up(self) -> None:
        up = self._up
        to_up = self._to_up
        if up is not None and to_up and up.transport is not None:
            up.transport.write(to_up[0] if len(to_up) == 1 else b"".join(to_up))
            to_up.clear()
            self._to_up_size = 0
            if self._paused:
                self._resume(_PAUSE_UPSTREAM_FULL)

    # response events (from the upstream connection) ------------------------------------------
    def on_response_head(self, head: ResponseHead) -> None:
        status = head.status
        if status < 200 and not (status == 101 and self._upgrade):
            self._skip_interim = True  # 1xx interim responses are not forwarded
            return
        up, cluster = self._up, self._cluster
        if up is not None and cluster is not None:
            cluster.observe(up.endpoint, status)  # outlier detection
            if status in self.retry_policy.codes and self._try_again(retry.STATUS, status):
                return  # this answer is dropped with its connection; another try follows
        self._resp_started = True
        self._retry_head = b""
        request = self._head
        assert request is not None
        framing = encode.reframe(head, request, self._keep_alive, self._upgrade)
        self._switching = status == 101
        self._resp_chunked = framing.chunked
        self._resp_until_close = framing.until_close
        self._keep_alive = framing.keep_alive
        extra = framing.lines
        if self.exchange is not None:
            self.exchange.respond(head, self._up, extra)
        if not framing.keep_alive:
            extra.append(b"connection: close\r\n")
        elif not request.http11:
            extra.append(b"connection: keep-alive\r\n")
        start = b"HTTP/1.1 %d %s\r\n" % (status, head.reason)
        drop = encode.dropping(_RESPONSE_DROP, head.connection)
        modifier = self.response_modifier
        if modifier is not None:
            drop = drop | modifier[0]
            extra += modifier[1]
        self._to_down.append(encode.head_bytes(start, head.names, head.values, drop, extra))

    def on_response_body(self, data: bytes) -> None:
        self._to_down.append(encode.chunk(data) if self._resp_chunked else data)

    def on_response_end(self) -> None:
        if self._skip_interim:
            self._skip_interim = False
            return
        if self._switching:
            return  # a 101's end: the upgrade itself follows (on_upstream_upgraded)
        if self._resp_chunked:
            self._to_down.append(encode.LAST_CHUNK)
        up, cluster = self._up, self._cluster
        self._up = None
        if up is not None and cluster is not None:
            if self._request_done and not self._upgrade:
                cluster.release(up)
            else:
                cluster.discard(up)
        if not self._request_done:
            # The upstream answered before the request body ended: stop reading the request.
            self._keep_alive = False
        self._finish()

    def on_upstream_upgraded(self, rest: bytes) -> None:
        """The upstream switched protocols: from now on both sides are a raw byte tunnel."""
        self._tunnel = True
        if rest:
            self._to_down.append(rest)
        self.flush()
        if self._tunnel_rest and self._up is not None:
            self._up.write(self._tunnel_rest)
            self._tunnel_rest = b""
        self._resume(_PAUSE_PIPELINED)

    def on_upstream_tunnel_data(self, data: bytes) -> None:
        self.bytes_out += len(data)
        if self.transport is not None:
            self.transport.write(data)

    def on_upstream_error(self, conn: UpstreamConnection, error: ProtocolError | None) -> None:
        if conn is not self._up:
            return
        self._up = None
        if self._tunnel:
            self._close()
            return
        if error is None and self._resp_until_close and self._resp_started:
            self.on_response_end()  # the upstream's close ends a close-delimited body
            return
        if error is None and self._retry_head and conn.uses > 0 and self._cluster is not None:
            # A pooled connection the upstream had already closed: try once on a fresh one.
            self._to_up = [self._retry_head]
            self._retry_head = b""
            fresh = self._cluster.acquire(self._on_connected, self._head)
            if fresh is not None:
                self._bind(fresh)
                self._flush_up()
            return
        if self._cluster is not None and not self._resp_started:
            self._cluster.observe(conn.endpoint, 502 if error is not None else 503)
            if self._try_again(retry.RESET):
                return
        if error is not None:
            self._fail(*local_reply.PROTOCOL)
        else:
            self._fail(*local_reply.RESET)

    def set_upstream_paused(self, paused: bool) -> None:
        if paused:
            self._pause(_PAUSE_UPSTREAM_FULL)
        else:
            self._resume(_PAUSE_UPSTREAM_FULL)

    def flush(self) -> None:
        """Write what the last upstream read produced for the client, in one write."""
        out = self._to_down
        if out and self.transport is not None:
            data = out[0] if len(out) == 1 else b"".join(out)
            self.bytes_out += len(data)
            self.transport.write(data)
            out.clear()

    # endings ----------------------------------------------------------------------------------
    def _finish(self) -> None:
        """The exchange is over: close, or go on with the next (possibly pipelined) request."""
        keep_alive = self._keep_alive and not self.closing
        self.flush()
        if self.exchange is not None:
            self.exchange.side.on_complete(self, "")
        self._reset_exchange()
        self.last_active = self.ctx.loop.time()
        if not keep_alive:
            self._close()
            return
        if self.decoder.held:
            try:
                self.decoder.resume()
            except ProtocolError as exc:
                self._protocol_error(exc)
                return
            self._flush_up()
        if not self.decoder.deferred:
            self._resume(_PAUSE_PIPELINED)

    def _reply(self, status: int, flag: str, detail: str) -> None:
        """Answer the current request ourselves."""
        ctx = self.ctx
        ctx.stats.flags[flag] += 1
        ctx.stats.status[status] += 1
        if ctx.telemetry is not None:
            ctx.telemetry.on_reply(self, self._head, status, flag)
        self._resp_started = True
        self._to_up.clear()
        self._to_up_size = 0
        self._to_down.append(local_reply.encode(status, flag, detail, not self._keep_alive))
        self.flush()
        if self._request_done or not self._keep_alive:
            self._finish()

    def _try_again(self, reason: int, status: int = 0) -> bool:
        """Starts another try of the current request if its policy, replay buffer and cluster's
        retry budget allow (after a jittered backoff); returns whether it did."""
        cluster, head = self._cluster, self._head
        if cluster is None or head is None or self.closing:
            return False
        policy = self.retry_policy
        if not policy.allows(reason, self._attempt, head.method, status):
            return False
        if reason != retry.CONNECT and (self._replay is None or not self._request_done):
            return False
        if not self._retrying:
            if not retry.budget_allows(cluster.active_requests(), cluster.retries_active):
                return False
            cluster.retries_active += 1
            self._retrying = True
        self._attempt += 1
        self.ctx.stats.rq_retry += 1
        up = self._up
        self._up = None
        if up is not None:
            cluster.discard(up)
        if reason != retry.CONNECT:
            assert self._replay is not None
            self._to_up = list(self._replay)
            self._to_up_size = self._replay_size
        loop = self.ctx.loop
        self.try_started = loop.time()
        loop.call_later(policy.delay(self._attempt), self._go_upstream, self._exchange_id)
        return True

    def _go_upstream(self, exchange_id: int) -> None:
        """(Re)starts the upstream leg of exchange ``exchange_id`` after a backoff or an injected
        delay, unless that exchange is over."""
        if self.closing or exchange_id != self._exchange_id or self._resp_started:
            return
        cluster = self._cluster
        assert cluster is not None
        self.try_started = self.ctx.loop.time()
        conn = cluster.acquire(self._on_connected, self._head)
        if conn is not None:
            self._bind(conn)
            self._flush_up()

    def _fail(self, status: int, flag: str, detail: str) -> None:
        """The upstream failed this exchange: answer if we still can, else cut the client off."""
        if self._attempt:
            flag = f"{flag},{stats.RETRY_LIMIT_EXCEEDED}"  # tried again, failed again (Envoy)
        up = self._up
        self._up = None
        if up is not None and self._cluster is not None:
            self._cluster.discard(up)
        if self._resp_started:
            self.ctx.stats.flags[flag] += 1
            self._abort()
            return
        self._discard_body = True
        if not self._request_done:
            self._keep_alive = False
        self._reply(status, flag, detail)

    def _protocol_error(self, exc: ProtocolError) -> None:
        """A bad request: answer its status and close. A request whose head was already sent
        upstream (the fault is in its body) has that upstream connection reset."""
        up = self._up
        self._up = None
        if up is not None and self._cluster is not None:
            self._cluster.discard(up)
        if self._resp_started:
            self.ctx.stats.flags[stats.DOWNSTREAM_PROTOCOL_ERROR] += 1
            self._abort()
            return
        self._keep_alive = False
        self._to_down.clear()
        self._to_up.clear()
        self._reply(exc.status, stats.DOWNSTREAM_PROTOCOL_ERROR, exc.reason)

    def on_timeout(self, kind: str) -> None:
        """Called by the listener's sweeper when a deadline of this connection passed."""
        if kind == "try":
            if not self._resp_started and not self._try_again(retry.TRY_TIMEOUT):
                self._keep_alive = False
                self._fail(*local_reply.TIMEOUT)
            return
        if kind == "request":
            if self._resp_started:
                self.ctx.stats.flags[stats.UPSTREAM_TIMEOUT] += 1
                self._abort()
            else:
                self._keep_alive = False
                self._fail(*local_reply.TIMEOUT)
        elif kind == "header":
            self._keep_alive = False
            self._reply(408, stats.DOWNSTREAM_PROTOCOL_ERROR, "request header read timeout")
        else:
            self._close()

    def _pause(self, reason: int) -> None:
        if not self._paused and self.transport is not None:
            self.transport.pause_reading()
        self._paused |= reason

    def _resume(self, reason: int) -> None:
        if self._paused & reason:
            self._paused &= ~reason
            if not self._paused and self.transport is not None and not self.closing:
                self.transport.resume_reading()

    def _close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def _abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def close_when_idle(self) -> None:
        """Drain: close now if no exchange is in flight, else after the current response."""
        self._keep_alive = False
        if not self.in_request:
            self._close()
