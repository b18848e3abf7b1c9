"""Serialising message heads and body framing for forwarding."""

from __future__ import annotations

from typing import NamedTuple

from sidecar.http1.head import RequestHead, ResponseHead

# Hop-by-hop fields (RFC 9110 7.6.1) plus the framing fields we always recompute ourselves.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"trailer",
        b"content-length",
    }
)
LAST_CHUNK = b"0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def head_bytes(
    start: bytes,
    names: list[bytes],
    values: list[bytes],
    drop: frozenset[bytes],
    extra: list[bytes],
) -> bytes:
    """A message head ready to write: ``start`` (the start line and any fields we put first,
    each ending in CRLF), every field whose name is not in ``drop``, the ``extra`` field lines
    (each ending in CRLF), and the blank line."""
    parts = [start]
    add = parts.append
    for name, value in zip(names, values, strict=True):
        if name not in drop:
            add(b"%s: %s\r\n" % (name, value))
    parts += extra
    add(b"\r\n")
    return b"".join(parts)


def dropping(drop: frozenset[bytes], connection: list[bytes]) -> frozenset[bytes]:
    """``drop`` plus the fields a ``Connection`` header names (RFC 9110 7.6.1)."""
    return drop | frozenset(connection) if connection else drop


def chunk(data: bytes) -> bytes:
    """``data`` framed as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class Reframing(NamedTuple):
    """How a response's body is framed for the client."""

    lines: list[bytes]  # framing field lines to send, each ending in CRLF
    chunked: bool  # re-chunk the body
    until_close: bool  # the upstream ends the body by closing its connection
    keep_alive: bool  # the client connection may carry another request after this one


def reframe(head: ResponseHead, request: RequestHead, keep_alive: bool, upgrade: bool) -> Reframing:
    """Frame ``head``'s body for the client that sent ``request``: the length when known,
    chunked for an HTTP/1.1 client otherwise, and for an HTTP/1.0 client the close of the
    connection."""
    if head.status == 101:
        return Reframing([b"connection: upgrade\r\nupgrade: %s\r\n" % request.upgrade],
                         False, False, keep_alive)  # fmt: skip
    if upgrade:
        keep_alive = False  # the upgrade was refused: this connection is done
    if head.bodyless:
        if head.content_length >= 0 and request.method == b"HEAD":
            return Reframing([b"content-length: %d\r\n" % head.content_length],
                             False, False, keep_alive)  # fmt: skip
        return Reframing([], False, False, keep_alive)
    if head.content_length >= 0:
        return Reframing([b"content-length: %d\r\n" % head.content_length],
                         False, False, keep_alive)  # fmt: skip
    if request.http11:
        return Reframing([b"transfer-encoding: chunked\r\n"], True, not head.chunked, keep_alive)
    return Reframing([], False, not head.chunked, False)  # HTTP/1.0: the body ends at our close
