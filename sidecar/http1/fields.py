"""Framing fields of HTTP/1.1 heads: Host, Content-Length, Transfer-Encoding, Connection,
Expect, Upgrade. Each is checked strictly, on bytes, ASCII only (never ``int()`` on untrusted text
without checking it is plain digits first), and any ambiguity is a ProtocolError.
"""

from __future__ import annotations

import re

from sidecar.http1.errors import ProtocolError
from sidecar.http1.head import RequestHead, ResponseHead

# Fields whose presence sends a head through the full framing checks.
REQUEST_SPECIAL = frozenset(
    {b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade"}
)
RESPONSE_SPECIAL = frozenset({b"content-length", b"transfer-encoding", b"connection"})
_DIGITS = re.compile(rb"[0-9]{1,18}\Z")
_HOST = re.compile(rb"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(:[0-9]{0,5})?\Z")


def content_length(values: list[bytes]) -> int:
    """The one Content-Length that every value agrees on; raises ProtocolError otherwise."""
    if len(values) == 1 and 0 < len(values[0]) <= 18 and values[0].isdigit():  # ASCII only
        return int(values[0])
    result = -1
    for value in values:
        for raw in value.split(b","):
            item = raw.strip(b" \t")
            if not _DIGITS.match(item):
                raise ProtocolError(400, "invalid Content-Length")
            number = int(item)
            if result not in (-1, number):
                raise ProtocolError(400, "conflicting Content-Length values")
            result = number
    return result


def _chunked(values: list[bytes]) -> bool:
    """True when Transfer-Encoding is exactly ``chunked``; anything else is refused."""
    if len(values) != 1 or values[0].strip(b" \t").lower() != b"chunked":
        raise ProtocolError(400, "unsupported Transfer-Encoding")
    return True


def _values(names: list[bytes], values: list[bytes], name: bytes) -> list[bytes]:
    """Every value of field ``name`` (which is present), in order."""
    if names.count(name) == 1:
        return [values[names.index(name)]]
    return [v for n, v in zip(names, values, strict=True) if n == name]


def _tokens(names: list[bytes], values: list[bytes]) -> list[bytes]:
    """The lower-case options of every Connection field."""
    return [
        token.strip(b" \t").lower()
        for value in _values(names, values, b"connection")
        for token in value.split(b",")
    ]


def request_framing(head: RequestHead, names: list[bytes], values: list[bytes]) -> None:
    """Fill the framing fields of ``head``; raise ProtocolError if they are ambiguous."""
    if b"transfer-encoding" in names:
        if b"content-length" in names:
            raise ProtocolError(400, "both Content-Length and Transfer-Encoding")
        if not head.http11:
            raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
        head.chunked = _chunked(_values(names, values, b"transfer-encoding"))
    elif b"content-length" in names:
        head.content_length = content_length(_values(names, values, b"content-length"))
    if b"connection" in names:
        head.connection = _tokens(names, values)
    if b"expect" in names and head.http11:  # HTTP/1.0 expectations are ignored (RFC 9110 10.1.1)
        expect = _values(names, values, b"expect")
        if len(expect) != 1 or expect[0].strip(b" \t").lower() != b"100-continue":
            raise ProtocolError(417, "unsupported expectation")
        head.expect_continue = True
    if b"upgrade" in names:
        head.upgrade = values[names.index(b"upgrade")].strip(b" \t")


def request_host(http11: bool, names: list[bytes], values: list[bytes]) -> bytes:
    """The one valid Host value (b"" for an HTTP/1.0 request without one)."""
    hosts = names.count(b"host")
    if hosts > 1 or (http11 and not hosts):
        raise ProtocolError(400, "a request needs exactly one Host header")
    if not hosts:
        return b""
    host = values[names.index(b"host")].strip(b" \t")
    if not _HOST.match(host):
        raise ProtocolError(400, "invalid Host header")
    return host


def response_framing(
    head: ResponseHead, names: list[bytes], values: list[bytes], http11: bool
) -> None:
    if b"transfer-encoding" in names:
        if b"content-length" in names:
            raise ProtocolError(502, "both Content-Length and Transfer-Encoding")
        head.chunked = http11 and _chunked(_values(names, values, b"transfer-encoding"))
    elif b"content-length" in names:
        head.content_length = content_length(_values(names, values, b"content-length"))
    if b"connection" in names:
        head.connection = _tokens(names, values)
