"""Serialising message heads and body framing for forwarding."""

from __future__ import annotations

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
