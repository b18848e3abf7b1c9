"""ResponseDecoder: framing of upstream responses, bodyless responses, interim and upgrades."""

from __future__ import annotations

import pytest

from sidecar.http1.codec import ResponseDecoder
from sidecar.http1.errors import ProtocolError
from sidecar.http1.head import ResponseHead
from tests.unit.sidecar.http1.helpers import (
    Event,
    ResponseFields,
    ResponseRecorder,
    body_of,
    bytewise,
    decode_responses,
)


def heads(events: list[Event]) -> list[ResponseFields]:
    return [arg for _, arg in events if isinstance(arg, ResponseFields)]


def kinds(events: list[Event]) -> list[str]:
    return [kind for kind, _ in events]


CL_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"
CHUNKED_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
)


@pytest.mark.parametrize("data", [CL_RESPONSE, CHUNKED_RESPONSE], ids=["cl", "chunked"])
def test_framed_body_reassembles_and_ends(data: bytes) -> None:
    for chunks in ([data], bytewise(data)):
        events = decode_responses(chunks)
        assert kinds(events) == ["head", "body", "end"]
        assert body_of(events) == b"hello world"
        head = heads(events)[0]
        assert (head.status, head.keep_alive) == (200, True)
    chunked = heads(decode_responses([CHUNKED_RESPONSE]))[0]
    assert chunked.headers == ((b"transfer-encoding", b"chunked"),)


def test_reason_phrase_survives_a_split_status_line() -> None:
    # The proxy forwards the reason phrase downstream; a read boundary must not cut it.
    data = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
    assert heads(decode_responses([data]))[0].reason == b"Service Unavailable"
    cut_reasons = {
        cut: heads(decode_responses([data[:cut], data[cut:]]))[0].reason for cut in range(9, 34)
    }
    assert {cut: r for cut, r in cut_reasons.items() if r != b"Service Unavailable"} == {}


@pytest.mark.parametrize("version", [b"1.1", b"1.0"])
def test_close_delimited_body_never_ends_before_close(version: bytes) -> None:
    events = decode_responses([b"HTTP/" + version + b" 200 OK\r\n\r\nabc", b"def", b"ghi"])
    assert kinds(events) == ["head", "body"]
    assert body_of(events) == b"abcdefghi"
    head = heads(events)[0]
    assert head.content_length == -1 and not head.chunked and not head.keep_alive


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
    ],
    ids=["204", "304-with-length"],
)
def test_204_and_304_have_no_body(head: bytes) -> None:
    following = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    events = decode_responses([head + following])
    assert kinds(events) == ["head", "end", "head", "body", "end"]
    assert [h.status for h in heads(events)] == [int(head[9:12]), 200]
    assert body_of(events) == b"ok"


HEAD_ANSWERS = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
]
NEXT = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"


@pytest.mark.parametrize("answer", HEAD_ANSWERS, ids=["content-length", "chunked"])
def test_head_response_has_no_body_and_next_response_decodes(answer: bytes) -> None:
    recorder = ResponseRecorder()
    decoder = ResponseDecoder(recorder)
    decoder.expect_head_response()
    decoder.feed(answer)
    assert kinds(recorder.events) == ["head", "end"]
    decoder.feed(NEXT)
    assert kinds(recorder.events) == ["head", "end", "head", "body", "end"]
    second = heads(recorder.events)[1]
    assert not second.head_only and second.content_length == 2
    assert body_of(recorder.events) == b"hi"


@pytest.mark.parametrize("answer", HEAD_ANSWERS, ids=["content-length", "chunked"])
def test_head_response_is_flagged_bodyless_when_delivered(answer: bytes) -> None:
    # The sink decides how to forward the head while it holds it: it must already know the
    # response is bodyless, or it frames a body that never comes (e.g. a last chunk after a
    # HEAD answer, which the client reads as the start of the next response).
    seen: list[bool] = []

    class Sink(ResponseRecorder):
        def on_response_head(self, head: ResponseHead) -> None:
            seen.append(head.bodyless)

    decoder = ResponseDecoder(Sink())
    decoder.expect_head_response()
    decoder.feed(answer)
    assert seen == [True]


@pytest.mark.parametrize("answer", HEAD_ANSWERS, ids=["content-length", "chunked"])
def test_head_response_and_next_response_in_one_read(answer: bytes) -> None:
    # How the upstream's bytes are cut into reads must not change what is decoded.
    recorder = ResponseRecorder()
    decoder = ResponseDecoder(recorder)
    decoder.expect_head_response()
    decoder.feed(answer + NEXT)
    assert kinds(recorder.events) == ["head", "end", "head", "body", "end"]
    assert body_of(recorder.events) == b"hi"


def test_100_continue_then_final_response() -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\n" + CL_RESPONSE
    for chunks in ([data], bytewise(data)):
        events = decode_responses(chunks)
        assert [h.status for h in heads(events)] == [100, 200]
        assert kinds(events) == ["head", "end", "head", "body", "end"]
        assert body_of(events) == b"hello world"


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 1\r\n",
        b"Content-Length: +1\r\n",
        b"Content-Length: 1x\r\n",
        b"Content-Length: 1\r\nContent-Length: 2\r\n",
        b"Content-Length: 1, 2\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
    ],
    ids=["cl-te", "te-cl", "cl-plus", "cl-junk", "cl-two", "cl-list", "te-gzip-chunked"],
)
def test_bad_upstream_framing_is_502(framing: bytes) -> None:
    decoder = ResponseDecoder(ResponseRecorder())
    with pytest.raises(ProtocolError) as caught:
        decoder.feed(b"HTTP/1.1 200 OK\r\n" + framing + b"\r\n0\r\n\r\n")
    assert caught.value.status == 502


def test_101_returns_offset_of_tunnel_bytes() -> None:
    head = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    recorder = ResponseRecorder()
    offset = ResponseDecoder(recorder).feed(head + b"\x81\x02hi")
    assert offset == len(head)
    assert heads(recorder.events)[0].status == 101


def test_200_with_upgrade_header_is_not_a_switch() -> None:
    # Only 101 switches protocols (Envoy CVE-2024-23326).
    data = (
        b"HTTP/1.1 200 OK\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Content-Length: 2\r\n\r\nhi"
    )
    recorder = ResponseRecorder()
    assert ResponseDecoder(recorder).feed(data + NEXT) == -1
    assert kinds(recorder.events) == ["head", "body", "end", "head", "body", "end"]
