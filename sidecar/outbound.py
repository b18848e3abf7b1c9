"""The outbound listener's policy: requests from the local app go to the cluster their host names.

The app speaks to us as to an HTTP proxy (``GET http://reviews/x``) or with a Host header
(``GET /x`` + ``Host: reviews``). Either way the host, without port or trailing dot and in lower
case, is looked up in the route table (``sidecar.routing``): it names a cluster, or a virtual host
whose first matching route picks one by weight. An unknown host, or no matching route, is answered
404 with flag NR; a route whose chosen backend is not available, 500 with flag NC.
"""

from __future__ import annotations

from random import getrandbits
from typing import TYPE_CHECKING

from sidecar import local_reply, pathnorm, retry, stats
from sidecar.filters import Filters
from sidecar.http1 import encode
from sidecar.http1.head import RequestHead
from sidecar.local_reply import LocalReply
from sidecar.routing import RouteTable, VirtualHost
from sidecar.telemetry.context import REPLACED_FIELDS
from sidecar.transport.pool import Cluster

if TYPE_CHECKING:
    from sidecar.transport.downstream import DownstreamConnection

# Fields that never leave the sidecar for an upstream: hop-by-hop, framing, those we set, and the
# peer-identity header, which only an inbound sidecar may write (from the verified certificate).
_DROP = encode.HOP_BY_HOP | {b"host", b"expect", b"x-forwarded-client-cert"}
# With telemetry, the trace context and peer metadata are ours to write.
_DROP_TRACED = _DROP | REPLACED_FIELDS | {b"x-glassmesh-peer"}


def request_id() -> bytes:
    """A random version-4 UUID, as Envoy puts in ``x-request-id`` (unique, not secret)."""
    h = b"%032x" % getrandbits(128)
    return b"%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:])


def split_target(target: bytes, host: bytes) -> tuple[bytes, bytes]:
    """(authority, origin-form path) of a request target; absolute form wins over Host."""
    if target[:1] == b"/" or target == b"*":
        return host, target
    rest = target[target.index(b"://") + 3 :]
    cut = len(rest)
    for sep in (b"/", b"?"):
        found = rest.find(sep)
        if 0 <= found < cut:
            cut = found
    path = rest[cut:]
    if not path.startswith(b"/"):
        path = b"/" + path
    return rest[:cut], path


def normalized_target(head: RequestHead) -> tuple[bytes, bytes]:
    """(authority, normalized origin-form path) of a request; a path that cannot be normalized
    safely is answered 400 (flag DPE)."""
    authority, path = split_target(head.target, head.host)
    try:
        return authority, pathnorm.normalize(path)
    except pathnorm.BadPath as exc:
        raise LocalReply(400, stats.DOWNSTREAM_PROTOCOL_ERROR, str(exc)) from None


def host_key(authority: bytes) -> bytes:
    """The name a cluster is looked up by: lower case, no port, no trailing dot."""
    if authority.startswith(b"["):
        name = authority[: authority.find(b"]") + 1]
    else:
        name = authority.rsplit(b":", 1)[0] if b":" in authority else authority
    return name.rstrip(b".").lower()


def extra_fields(head: RequestHead) -> list[bytes]:
    """Field lines every forwarded request gets from us: request id and the body's framing."""
    extra = []
    if b"x-request-id" not in head.names:
        extra.append(b"x-request-id: %s\r\n" % request_id())
    if head.chunked:
        extra.append(b"transfer-encoding: chunked\r\n")
    elif head.content_length >= 0:
        extra.append(b"content-length: %d\r\n" % head.content_length)
    if head.upgrading:
        extra.append(b"connection: upgrade\r\nupgrade: %s\r\n" % head.upgrade)
    return extra


class OutboundPolicy:
    """Routes by host and route match to a cluster of peer sidecars (or plaintext endpoints).

    ``table`` is replaced whole when new config arrives; a request reads it once."""

    def __init__(self, table: RouteTable) -> None:
        self.table = table

    def route(self, head: RequestHead, conn: DownstreamConnection) -> tuple[Cluster, bytes]:
        authority, path = normalized_target(head)
        target = self.table.hosts.get(host_key(authority))
        if target is None:
            raise LocalReply(*local_reply.NO_ROUTE)
        if isinstance(target, VirtualHost):
            entry = target.find(head, path)
            if entry is None:
                raise LocalReply(*local_reply.NO_ROUTE_MATCH)
            cluster = entry.pick()
            if cluster is None:
                raise LocalReply(*local_reply.NO_CLUSTER)
            conn.retry_policy = entry.retry
            conn.timeout_s = entry.timeout_s
            conn.try_timeout_s = entry.try_timeout_s
            filters = entry.filters
        else:
            cluster = target
            conn.retry_policy = retry.DEFAULT
            filters = None
        extra = extra_fields(head)
        if b"x-forwarded-proto" not in head.names:
            extra.append(b"x-forwarded-proto: http\r\n")
        telemetry = conn.ctx.telemetry
        drop = encode.dropping(_DROP if telemetry is None else _DROP_TRACED, head.connection)
        if filters is not None:
            assert isinstance(target, VirtualHost) and entry is not None
            if filters.aborts():
                if telemetry is not None:  # the reply is the route's: name its destination
                    telemetry.on_request(head, conn, cluster, path)
                raise LocalReply(filters.abort_status, stats.FAULT_ABORT, "fault filter abort")
            authority, path, drop = _apply(
                filters, conn, prefix=entry.path, target=(authority, path), drop=drop, extra=extra
            )
        start = b"%s %s HTTP/1.1\r\nhost: %s\r\n" % (head.method, path, authority)
        if telemetry is not None:
            extra += telemetry.on_request(head, conn, cluster, path)
        return cluster, encode.head_bytes(start, head.names, head.values, drop, extra)


def _apply(
    filters: Filters,
    conn: DownstreamConnection,
    *,
    prefix: bytes,
    target: tuple[bytes, bytes],
    drop: frozenset[bytes],
    extra: list[bytes],
) -> tuple[bytes, bytes, frozenset[bytes]]:
    """Runs a rule's filters on a request to ``target`` (authority, path) whose rule matched
    ``prefix``; returns its authority, path and the fields to drop (``extra`` gets the fields to
    add). An injected abort is answered before this."""
    authority, path = target
    conn.delay_s = filters.delays()
    conn.mirror = filters.mirrors()
    conn.response_modifier = filters.response
    if filters.request is not None:
        drop = drop | filters.request[0]
        extra += filters.request[1]
    return filters.host or authority, filters.rewrite_path(path, prefix), drop
