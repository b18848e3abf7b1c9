"""Property tests of the decoders: no input crashes them; how bytes arrive never matters."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.http1 import encode
from sidecar.http1.codec import RequestDecoder, ResponseDecoder
from sidecar.http1.errors import ProtocolError
from tests.unit.sidecar.http1.helpers import (
    RequestFields,
    RequestRecorder,
    ResponseRecorder,
    body_of,
    decode_requests,
    drain,
    split_at,
)

REQUEST_STATUSES = {400, 414, 417, 431}
HEADS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n",
    b"GET /",
]
TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
RESERVED = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "expect",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
}


def cuts_for(data: bytes) -> st.SearchStrategy[list[int]]:
    return (
        st.lists(st.integers(1, max(1, len(data) - 1)), max_size=8)
        if len(data) > 1
        else st.just([])
    )


def feed_request_bytes(chunks: list[bytes]) -> None:
    decoder = RequestDecoder(RequestRecorder())
    try:
        for chunk in chunks:
            decoder.feed(chunk)
            drain(decoder)
    except ProtocolError as exc:
        assert exc.status in REQUEST_STATUSES


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.data())
def test_arbitrary_bytes_decode_or_raise_protocol_error(data: bytes, draw: st.DataObject) -> None:
    feed_request_bytes(split_at(data, draw.draw(cuts_for(data))))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(HEADS), st.binary(max_size=400), st.data())
def test_arbitrary_bytes_after_a_valid_head(head: bytes, tail: bytes, draw: st.DataObject) -> None:
    data = head + tail
    feed_request_bytes(split_at(data, draw.draw(cuts_for(data))))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.data())
def test_arbitrary_upstream_bytes_decode_or_raise_502(tail: bytes, draw: st.DataObject) -> None:
    data = b"HTTP/1.1 200 OK\r\n" + tail
    decoder = ResponseDecoder(ResponseRecorder())
    try:
        for chunk in split_at(data, draw.draw(cuts_for(data))):
            decoder.feed(chunk)
    except ProtocolError as exc:
        assert exc.status == 502


@dataclass(frozen=True)
class Request:
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    chunks: list[tuple[bytes, bytes]]  # (data, extension) when chunked, else empty

    @property
    def wire(self) -> bytes:
        lines = [self.method + b" " + self.target + b" HTTP/1.1", b"Host: svc.local"]
        lines += [name + b": " + value for name, value in self.headers]
        if self.chunks:
            lines.append(b"Transfer-Encoding: chunked")
            framed = b"".join(b"%x%s\r\n%s\r\n" % (len(d), ext, d) for d, ext in self.chunks)
            return b"\r\n".join(lines) + b"\r\n\r\n" + framed + b"0\r\n\r\n"
        lines.append(b"Content-Length: %d" % len(self.body))
        return b"\r\n".join(lines) + b"\r\n\r\n" + self.body


names = st.text(TOKEN, min_size=1, max_size=12).filter(lambda n: n.lower() not in RESERVED)
values = st.from_regex(rb"\A([\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?)?\Z")
extensions = st.sampled_from([b"", b";a", b";name=value", b';q="x y"', b";a=1;b"])


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE"]))
    # No "%": "%00" is refused on purpose (see the corpus), so escapes are not "valid" here.
    target = b"/" + draw(st.from_regex(rb"\A[a-zA-Z0-9/._~?=&-]{0,30}\Z"))
    headers = draw(st.lists(st.tuples(names.map(str.encode), values), max_size=8))
    pieces = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=5))
    chunked = draw(st.booleans())
    chunks = [(p, draw(extensions)) for p in pieces] if chunked else []
    return Request(method, target, headers, b"".join(pieces), chunks)


def expected_headers(request: Request) -> tuple[tuple[bytes, bytes], ...]:
    framing = (
        (b"transfer-encoding", b"chunked")
        if request.chunks
        else (b"content-length", b"%d" % len(request.body))
    )
    own = [(name.lower(), value) for name, value in request.headers]
    return ((b"host", b"svc.local"), *own, framing)


@settings(max_examples=200, deadline=None)
@given(requests(), st.data())
def test_generated_requests_decode_the_same_however_split(
    request: Request, draw: st.DataObject
) -> None:
    wire = request.wire
    whole = decode_requests([wire])
    assert decode_requests(split_at(wire, draw.draw(cuts_for(wire)))) == whole
    head = whole[0][1]
    assert isinstance(head, RequestFields)
    assert (head.method, head.target) == (request.method, request.target)
    assert head.headers == expected_headers(request)
    assert body_of(whole) == request.body
    assert whole[-1] == ("end", None)


@settings(max_examples=200, deadline=None)
@given(requests())
def test_encoded_head_decodes_to_the_same_head(request: Request) -> None:
    head = decode_requests([request.wire])[0][1]
    assert isinstance(head, RequestFields)
    start = b"%s %s HTTP/1.1\r\n" % (head.method, head.target)
    names = [name for name, _ in head.headers]
    values = [value for _, value in head.headers]
    again = decode_requests([encode.head_bytes(start, names, values, frozenset(), [])])
    twin = again[0][1]
    assert isinstance(twin, RequestFields)
    assert (twin.method, twin.target, twin.headers) == (head.method, head.target, head.headers)
