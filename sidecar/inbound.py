"""The inbound listener's policy: requests from peer sidecars go to the local app.

The peer is authenticated by mutual TLS; its SPIFFE ID reaches the app in
``x-forwarded-client-cert`` (Envoy's XFCC format), which we always set ourselves after removing
whatever the request carried, so no caller can claim another's identity. The path is normalized
(``sidecar.pathnorm``) and the request authorized (``sidecar.authz``, 403 with flag RBAC) before
it is forwarded, normalized, so the app sees the path that was authorized.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar import local_reply
from sidecar.authz import Authorizer, Request
from sidecar.http1 import encode
from sidecar.http1.head import RequestHead
from sidecar.local_reply import LocalReply
from sidecar.outbound import extra_fields, normalized_target
from sidecar.pathnorm import authz_path
from sidecar.telemetry.context import REPLACED_FIELDS
from sidecar.transport.pool import Cluster

if TYPE_CHECKING:
    from sidecar.transport.downstream import DownstreamConnection

XFCC = b"x-forwarded-client-cert"
_DROP = encode.HOP_BY_HOP | {b"host", b"expect", XFCC}
_DROP_TRACED = _DROP | REPLACED_FIELDS | {b"x-glassmesh-peer"}


class InboundPolicy:
    """Forwards every request to the local app, stamped with the caller's verified identity."""

    def __init__(self, app: Cluster, own_id: str) -> None:
        self.authorizer: Authorizer | None = None  # replaced whole when policies change
        self._app = app
        self._xfcc = XFCC + f": By={own_id};URI=".encode("ascii")
        app_endpoint = app.endpoints[0]
        self._default_authority = f"{app_endpoint.host}:{app_endpoint.port}".encode("ascii")

    def route(self, head: RequestHead, conn: DownstreamConnection) -> tuple[Cluster, bytes]:
        authority, path = normalized_target(head)
        authorizer = self.authorizer
        if authorizer is not None:
            request = Request(conn.peer_id, head.method, authz_path(path), authority, head.field)
            if not authorizer.allows(request):
                raise LocalReply(*local_reply.RBAC_DENIED)
        connection = head.connection
        extra = extra_fields(head)
        if conn.peer_id is not None:
            extra.append(self._xfcc + conn.peer_id.encode("ascii") + b"\r\n")
        start = b"%s %s HTTP/1.1\r\nhost: %s\r\n" % (
            head.method,
            path,
            authority or self._default_authority,
        )
        telemetry = conn.ctx.telemetry
        if telemetry is not None:
            extra += telemetry.on_request(head, conn, self._app, path)
        drop = encode.dropping(_DROP if telemetry is None else _DROP_TRACED, connection)
        return self._app, encode.head_bytes(start, head.names, head.values, drop, extra)
