"""The outbound listener's policy: requests from the local app go to the cluster their host names.

The app speaks to us as to an HTTP proxy (``GET http://reviews/x``) or with a Host header
(``GET /x`` + ``Host: reviews``). Either way the host, without port or trailing dot and in lower
case, picks the cluster; an unknown host is answered 404 with flag NR.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sidecar import local_reply
from sidecar.http1 import encode
from sidecar.http1.head import RequestHead
from sidecar.local_reply import LocalReply
from sidecar.transport.pool import Cluster

if TYPE_CHECKING:
    from sidecar.transport.downstream import DownstreamConnection

# Fields that never leave the sidecar for an upstream: hop-by-hop, framing, those we set, and the
# peer-identity header, which only an inbound sidecar may write (from the verified certificate).
_DROP = encode.HOP_BY_HOP | {b"host", b"expect", b"x-forwarded-client-cert"}


def request_id() -> bytes:
    """A random version-4 UUID, as Envoy puts in ``x-request-id``."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}".encode("ascii")


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


def host_key(authority: bytes) -> bytes:
    """The name a cluster is looked up by: lower case, no port, no trailing dot."""
    if authority.startswith(b"["):
        name = authority[: authority.find(b"]") + 1]
    else:
        name = authority.rsplit(b":", 1)[0] if b":" in authority else authority
    return name.rstrip(b".").lower()


def finish_headers(head: RequestHead, headers: list[tuple[bytes, bytes]], upgrade: bool) -> None:
    """Add the fields every forwarded request carries: request id and the body's framing."""
    if not any(name == b"x-request-id" for name, _ in headers):
        headers.append((b"x-request-id", request_id()))
    if head.chunked:
        headers.append((b"transfer-encoding", b"chunked"))
    elif head.content_length >= 0:
        headers.append((b"content-length", b"%d" % head.content_length))
    if upgrade:
        headers += ((b"connection", b"upgrade"), (b"upgrade", head.upgrade))


class OutboundPolicy:
    """Routes by host to a cluster of peer sidecars (or plaintext endpoints)."""

    def __init__(self, clusters: dict[bytes, Cluster]) -> None:
        self._clusters = clusters

    def route(self, head: RequestHead, conn: DownstreamConnection) -> tuple[Cluster, bytes]:
        authority, path = split_target(head.target, head.host)
        cluster = self._clusters.get(host_key(authority))
        if cluster is None:
            raise LocalReply(*local_reply.NO_ROUTE)
        headers = [(b"host", authority)]
        headers += encode.forwardable(head.headers, head.connection, _DROP)
        if not any(name == b"x-forwarded-proto" for name, _ in headers):
            headers.append((b"x-forwarded-proto", b"http"))
        finish_headers(head, headers, bool(head.upgrade) and b"upgrade" in head.connection)
        return cluster, encode.request_head(head.method, path, headers)
