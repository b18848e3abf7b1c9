"""Serialising message heads and body framing for forwarding."""

from __future__ import annotations

from collections.abc import Iterable

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


def forwardable(
    headers: Iterable[tuple[bytes, bytes]], connection: list[bytes], drop: frozenset[bytes]
) -> list[tuple[bytes, bytes]]:
    """The end-to-end fields of a message: hop-by-hop fields, those the ``Connection`` field
    names, and ``drop`` removed."""
    if connection:
        drop = drop | frozenset(connection)
    return [item for item in headers if item[0] not in drop]


def request_head(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """An HTTP/1.1 request head, ready to write."""
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def response_head(status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """An HTTP/1.1 response head, ready to write."""
    parts = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def chunk(data: bytes) -> bytes:
    """``data`` framed as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)
