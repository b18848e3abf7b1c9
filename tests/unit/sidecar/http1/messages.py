"""Valid request byte streams, shared by the split-invariance and differential tests."""

from __future__ import annotations

GET = b"GET /api/v1/items?page=2&q=a%20b HTTP/1.1\r\nHost: svc.local:8080\r\nAccept: */*\r\n\r\n"
POST_CL = (
    b"POST /upload HTTP/1.1\r\nHost: svc.local\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Length: 16\r\n\r\nab\r\n0\r\n\r\nGET / x"
)
CHUNKED_EXT = (
    b"PUT /obj HTTP/1.1\r\nHost: svc.local\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'5;name=value\r\nhello\r\n6;flag;q="a b"\r\n world\r\nA\r\n0123456789\r\n0\r\n\r\n'
)
CHUNKED_TRAILERS = (
    b"POST /rpc HTTP/1.1\r\nHost: svc.local\r\nTransfer-Encoding: chunked\r\n"
    b"Trailer: X-Checksum\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 900150983cd24fb0\r\n\r\n"
)
HTTP10 = b"GET /legacy HTTP/1.0\r\nUser-Agent: old\r\n\r\n"
HTTP10_KEEP_ALIVE = b"GET /legacy HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
EXPECT_CONTINUE = (
    b"POST /big HTTP/1.1\r\nHost: svc.local\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nxyz"
)
PIPELINED = (
    b"GET /one HTTP/1.1\r\nHost: svc.local\r\n\r\n"
    + POST_CL.replace(b"/upload", b"/two")
    + CHUNKED_EXT.replace(b"/obj", b"/three")
    + b"DELETE /four HTTP/1.1\r\nHost: svc.local\r\nConnection: close\r\n\r\n"
)

# Fed whole and split every way in test_request_decoder.py.
SPLIT_CASES: dict[str, bytes] = {
    "get": GET,
    "post-content-length": POST_CL,
    "chunked-with-extensions": CHUNKED_EXT,
    "chunked-with-trailers": CHUNKED_TRAILERS,
    "http10": HTTP10,
    "http10-keep-alive": HTTP10_KEEP_ALIVE,
    "expect-continue": EXPECT_CONTINUE,
    "pipelined": PIPELINED,
}

# Requests that must be accepted; each also goes to h11 in the differential test.
VALID: dict[str, bytes] = {
    **SPLIT_CASES,
    "leading-crlf": b"\r\n" + GET,
    "options-asterisk": b"OPTIONS * HTTP/1.1\r\nHost: svc.local\r\n\r\n",
    "absolute-form": b"GET http://svc.local/x HTTP/1.1\r\nHost: svc.local\r\n\r\n",
    "websocket-upgrade": (
        b"GET /ws HTTP/1.1\r\nHost: svc.local\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    ),
    "content-length-zero": b"POST /e HTTP/1.1\r\nHost: svc.local\r\nContent-Length: 0\r\n\r\n",
    "obs-text-value": b"GET / HTTP/1.1\r\nHost: svc.local\r\nX-Name: caf\xc3\xa9\r\n\r\n",
    "tab-in-value": b"GET / HTTP/1.1\r\nHost: svc.local\r\nX-List: a\tb\r\n\r\n",
    "ipv6-host": b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
}

# Identical duplicate Content-Length values MAY be collapsed into one (RFC 9110 8.6).
