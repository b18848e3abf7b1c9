"""Request smuggling through the real sidecar (reliability anchors 8.1): every ambiguous or
malformed request is answered 400 and the connection closed, and nothing of it reaches the app.

Each case is sent in one write to A's outbound listener. After the client has seen the answer
and the close, a canary request on a fresh connection proves the sidecar still serves, and the
app must have seen the canary and nothing else.
"""

from __future__ import annotations

import pytest

from tests.integration.mesh import Mesh
from tests.integration.rawhttp import connect, get

GOOD = b"GET /first HTTP/1.1\r\nHost: server\r\n\r\n"


def post(headers: bytes, body: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    return b"POST /x %s\r\nHost: server\r\n%s\r\n%s" % (version, headers, body)


def te(value: bytes) -> bytes:
    return post(b"Transfer-Encoding: " + value + b"\r\n", b"0\r\n\r\n")


def chunk_body(body: bytes) -> bytes:
    return post(b"Transfer-Encoding: chunked\r\n", body)


def cl(value: bytes) -> bytes:
    return post(b"Content-Length: " + value + b"\r\n", b"hello")


def header(line: bytes) -> bytes:
    return b"GET /x HTTP/1.1\r\nHost: server\r\n" + line + b"\r\n\r\n"


CASES: dict[str, bytes] = {
    # Content-Length together with Transfer-Encoding, both orders.
    "cl-then-te": post(b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\nG"),
    "te-then-cl": post(b"Transfer-Encoding: chunked\r\nContent-Length: 6\r\n", b"0\r\n\r\nG"),
    # Conflicting or malformed Content-Length.
    "two-cl": post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"),
    "cl-list": cl(b"5, 6"),
    "cl-plus": cl(b"+5"),
    "cl-minus-zero": cl(b"-0"),
    "cl-hex": cl(b"0x5"),
    "cl-underscore": cl(b"5_0"),
    "cl-inner-space": cl(b"5 5"),
    "cl-decimal": cl(b"5.0"),
    "cl-unicode-digit": cl("\uff15".encode()),
    "cl-overflow": cl(b"18446744073709551616"),
    # Transfer-Encoding obfuscations.
    "te-chunked-identity": te(b"chunked, identity"),
    "te-identity-chunked": te(b"identity, chunked"),
    "te-xchunked": te(b"xchunked"),
    "te-chunked-params": te(b"chunked;ext=1"),
    "te-chunked-twice": te(b"chunked, chunked"),
    "te-two-fields": post(
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"
    ),
    "te-space-before-colon": post(b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"),
    "te-vertical-tab": te(b"chunked\x0b"),
    "te-in-http10": post(b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n", b"HTTP/1.0"),
    # Bad chunk sizes and terminators.
    "chunk-size-0x": chunk_body(b"0x5\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-plus": chunk_body(b"+5\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-space": chunk_body(b" 5\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-overflow": chunk_body(b"1" + b"0" * 16 + b"\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-negative": chunk_body(b"-5\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-missing": chunk_body(b"\r\nhello\r\n0\r\n\r\n"),
    "chunk-data-no-crlf": chunk_body(b"5\r\nhelloXX0\r\n\r\n"),
    "chunk-size-lf-only": chunk_body(b"5\nhello\r\n0\r\n\r\n"),
    "chunk-ext-nul": chunk_body(b"5;a=\x00\r\nhello\r\n0\r\n\r\n"),
    # Header syntax.
    "space-before-colon": b"GET /x HTTP/1.1\r\nHost : server\r\n\r\n",
    "obs-fold": header(b"X-A: a\r\n b"),
    "leading-space-first-header": b"GET /x HTTP/1.1\r\n Host: server\r\nHost: server\r\n\r\n",
    "cr-in-value": header(b"X-A: a\rTransfer-Encoding: chunked"),
    "lf-in-value": header(b"X-A: a\nTransfer-Encoding: chunked"),
    "nul-in-value": header(b"X-A: a\x00b"),
    "nul-in-name": header(b"X\x00A: a"),
    "at-in-name": header(b"X@A: a"),
    "high-byte-in-name": header(b"X\xffA: a"),
    # Host.
    "no-host": b"GET /x HTTP/1.1\r\n\r\n",
    "two-hosts": b"GET /x HTTP/1.1\r\nHost: server\r\nHost: other\r\n\r\n",
    "host-userinfo": b"GET /x HTTP/1.1\r\nHost: evil@server\r\n\r\n",
    "host-space": b"GET /x HTTP/1.1\r\nHost: server other\r\n\r\n",
    # Request line.
    "http-1.2": b"GET /x HTTP/1.2\r\nHost: server\r\n\r\n",
    "http-2.0": b"GET /x HTTP/2.0\r\nHost: server\r\n\r\n",
    "lowercase-method": b"get /x HTTP/1.1\r\nHost: server\r\n\r\n",
    "double-space": b"GET  /x HTTP/1.1\r\nHost: server\r\n\r\n",
    "tab-separator": b"GET\t/x HTTP/1.1\r\nHost: server\r\n\r\n",
    "bare-cr-line-end": b"GET /x HTTP/1.1\rHost: server\r\n\r\n",
    "bare-cr-in-target": b"GET /x\ry HTTP/1.1\r\nHost: server\r\n\r\n",
    "fragment-in-target": b"GET /x#frag HTTP/1.1\r\nHost: server\r\n\r\n",
    "nul-in-path": b"GET /x%00y HTTP/1.1\r\nHost: server\r\n\r\n",
}


async def assert_app_saw_only_canary(mesh: Mesh) -> None:
    canary = await get(mesh.outbound, b"/canary")
    assert (canary.status, canary.body) == (200, b"path=/canary")
    assert [r.target for r in mesh.app.requests] == [b"/canary"]
    assert len(mesh.app.connections) == 1


@pytest.mark.parametrize("payload", CASES.values(), ids=CASES.keys())
async def test_smuggling_attempt_is_rejected_and_not_forwarded(mesh: Mesh, payload: bytes) -> None:
    async with connect(mesh.outbound) as client:
        response = await client.request(payload)
        assert response.status == 400
        assert response.header(b"connection") == b"close"
        assert await client.closed_by_peer()
    assert mesh.app.bytes_received == 0
    await assert_app_saw_only_canary(mesh)


SMUGGLED = ["cl-then-te", "two-cl", "chunk-data-no-crlf"]


@pytest.mark.parametrize("smuggled", [CASES[name] for name in SMUGGLED], ids=SMUGGLED)
async def test_valid_request_then_smuggled_one(mesh: Mesh, smuggled: bytes) -> None:
    async with connect(mesh.outbound) as client:
        await client.send(GOOD + smuggled)
        first = await client.response()
        assert (first.status, first.body) == (200, b"path=/first")
        second = await client.response()
        assert second.status == 400
        assert await client.closed_by_peer()
    assert [r.target for r in mesh.app.requests] == [b"/first"]
    (connection,) = mesh.app.connections
    assert bytes(connection.raw).count(b"HTTP/1.1") == 1
