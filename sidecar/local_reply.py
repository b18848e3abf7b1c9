"""Answers the sidecar gives itself: errors it decides, each with a response flag.

This is the one place that maps a failure to a status code and flag (STYLE: the router's job).
"""

from __future__ import annotations

from http import HTTPStatus

from sidecar import stats

FLAGS_HEADER = b"x-glassmesh-flags"


class LocalReply(Exception):
    """Raised by a listener policy to answer a request itself instead of forwarding it."""

    def __init__(self, status: int, flag: str, detail: str) -> None:
        super().__init__(f"{status} {flag}: {detail}")
        self.status = status
        self.flag = flag
        self.detail = detail


def encode(status: int, flag: str, detail: str, close: bool) -> bytes:
    """A complete HTTP/1.1 response for a local reply."""
    body = f"{detail}\n".encode("ascii", "replace")
    reason = _reason(status)
    head = [
        b"HTTP/1.1 %d %s\r\n" % (status, reason),
        b"content-type: text/plain\r\n",
        b"content-length: %d\r\n" % len(body),
    ]
    if flag:
        head.append(FLAGS_HEADER + b": " + flag.encode("ascii") + b"\r\n")
    if close:
        head.append(b"connection: close\r\n")
    head.append(b"\r\n")
    return b"".join(head) + body


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b"Unknown"


# Upstream failures, by kind -> (status, flag). Envoy's mapping, narrowed to what HTTP/1 needs.
NO_ROUTE = (404, stats.NO_ROUTE, "no cluster for this host")
NO_ROUTE_MATCH = (404, stats.NO_ROUTE, "no route matches this request")
# Gateway API: a request for a backend that cannot be resolved is answered 500.
NO_CLUSTER = (500, stats.NO_CLUSTER, "the route's backend is not available")
CONNECT_FAILED = (502, stats.UPSTREAM_FAILURE, "upstream connect error")
CONNECT_TIMEOUT = (503, stats.UPSTREAM_FAILURE, "upstream connect timeout")
NO_HEALTHY = (503, stats.NO_HEALTHY_UPSTREAM, "no healthy upstream")
RBAC_DENIED = (403, stats.RBAC_DENIED, "RBAC: access denied")
OVERFLOW = (503, stats.UPSTREAM_OVERFLOW, "upstream connection limit reached (circuit breaker)")
RESET = (502, stats.UPSTREAM_FAILURE, "upstream connection closed before the response")
PROTOCOL = (502, stats.UPSTREAM_PROTOCOL_ERROR, "upstream sent an invalid response")
IDENTITY = (502, stats.UPSTREAM_FAILURE, "upstream identity does not match the cluster")
TIMEOUT = (504, stats.UPSTREAM_TIMEOUT, "upstream request timeout")
