"""RequestDecoder: what a valid request decodes to, pipelining, limits and expectations."""

from __future__ import annotations

import pytest

from sidecar.http1.codec import DecoderLimits, RequestDecoder
from sidecar.http1.errors import ProtocolError
from tests.unit.sidecar.http1.helpers import (
    RequestFields,
    RequestRecorder,
    body_of,
    bytewise,
    decode_requests,
    try_decode,
)
from tests.unit.sidecar.http1.messages import (
    CHUNKED_EXT,
    CHUNKED_TRAILERS,
    HTTP10,
    HTTP10_KEEP_ALIVE,
    PIPELINED,
    POST_CL,
    SPLIT_CASES,
)


def only_head(data: bytes) -> RequestFields:
    heads = [arg for kind, arg in decode_requests([data]) if isinstance(arg, RequestFields)]
    assert len(heads) == 1
    return heads[0]


def test_get_head_fields() -> None:
    head = only_head(
        b"GET /a/b?x=1 HTTP/1.1\r\nHost: svc.local:8080\r\nX-Request-ID: r-1\r\nACCEPT: */*\r\n\r\n"
    )
    assert (head.method, head.target, head.host) == (b"GET", b"/a/b?x=1", b"svc.local:8080")
    assert head.http11 and head.keep_alive
    assert (head.content_length, head.chunked, head.expect_continue) == (-1, False, False)
    assert (head.connection, head.upgrade) == ((), b"")
    assert head.headers == (
        (b"host", b"svc.local:8080"),
        (b"x-request-id", b"r-1"),
        (b"accept", b"*/*"),
    )


def test_header_values_are_stripped_of_outer_whitespace() -> None:
    # Policy matches header values exactly: "admin " must arrive as "admin".
    head = only_head(b"GET / HTTP/1.1\r\nHost: a\r\nX-Role:  \tadmin \t \r\nX-Empty:   \r\n\r\n")
    assert head.headers[1:] == ((b"x-role", b"admin"), (b"x-empty", b""))


def test_content_length_body_reassembles_exactly() -> None:
    events = decode_requests([POST_CL])
    head = events[0][1]
    assert isinstance(head, RequestFields)
    assert head.content_length == 16 and not head.chunked
    assert body_of(events) == b"ab\r\n0\r\n\r\nGET / x"
    assert events[-1] == ("end", None)


def test_chunked_body_reassembles_and_extensions_are_ignored() -> None:
    events = decode_requests([CHUNKED_EXT])
    head = events[0][1]
    assert isinstance(head, RequestFields)
    assert head.chunked and head.content_length == -1
    assert body_of(events) == b"hello world0123456789"
    assert events[-1] == ("end", None)


def test_http10_without_keep_alive_closes() -> None:
    head = only_head(HTTP10)
    assert not head.http11 and not head.keep_alive and head.host == b""


def test_http10_with_keep_alive_stays_open() -> None:
    head = only_head(HTTP10_KEEP_ALIVE)
    assert not head.http11 and head.keep_alive
    assert head.connection == (b"keep-alive",)


def test_connection_close_and_tokens_are_lower_cased() -> None:
    head = only_head(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close, X-Secret ,Keep-Alive\r\n\r\n"
    )
    assert not head.keep_alive
    assert head.connection == (b"close", b"x-secret", b"keep-alive")


def test_connection_tokens_come_from_every_connection_line() -> None:
    # RFC 9110 5.3: field lines of one name combine into one list. A token lost here is a
    # hop-by-hop header that would be forwarded upstream.
    head = only_head(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x-first\r\nConnection: x-second\r\n\r\n"
    )
    assert set(head.connection) == {b"x-first", b"x-second"}


def test_pipelined_requests_are_held_until_resume_then_delivered_in_order() -> None:
    recorder = RequestRecorder()
    decoder = RequestDecoder(recorder)
    decoder.feed(PIPELINED)
    assert [h.target for h in recorder.heads] == [b"/one"]
    assert decoder.held
    targets = [b"/one"]
    for expected in (b"/two", b"/three", b"/four"):
        decoder.resume()
        targets.append(expected)
        assert [h.target for h in recorder.heads] == targets
        assert recorder.events[-1] == ("end", None)
    decoder.resume()
    assert not decoder.held and len(recorder.heads) == 4
    assert body_of(recorder.events) == b"ab\r\n0\r\n\r\nGET / xhello world0123456789"


def test_bad_pipelined_request_fails_only_on_its_turn() -> None:
    recorder = RequestRecorder()
    decoder = RequestDecoder(recorder)
    decoder.feed(b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET /bad HTTP/1.1\r\nHost : a\r\n\r\n")
    assert [h.target for h in recorder.heads] == [b"/ok"]
    with pytest.raises(ProtocolError) as caught:
        decoder.resume()
    assert caught.value.status == 400
    assert [h.target for h in recorder.heads] == [b"/ok"]


def test_oversized_pipelined_head_fails_only_on_its_turn() -> None:
    # The first request's response is still owed: a 431 must not jump ahead of it.
    recorder = RequestRecorder()
    decoder = RequestDecoder(recorder, DecoderLimits(max_head_bytes=256, max_target_bytes=64))
    decoder.feed(b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET /big HTTP/1.1\r\nHost: a\r\nX: ")
    for _ in range(100):
        decoder.feed(b"a" * 10)
    with pytest.raises(ProtocolError) as caught:
        decoder.resume()
    assert caught.value.status == 431


def test_trailers_are_dropped_not_merged() -> None:
    data = (
        b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
        b"X-Trailer: t\r\nHost: evil\r\nAuthorization: Bearer stolen\r\n\r\n"
        b"GET /b HTTP/1.1\r\nHost: b\r\n\r\n"
    )
    for chunks in ([data], bytewise(data)):
        events = decode_requests(chunks)
        first, second = (arg for _, arg in events if isinstance(arg, RequestFields))
        assert first.headers == ((b"host", b"a"), (b"transfer-encoding", b"chunked"))
        assert second.headers == ((b"host", b"b"),)
        assert body_of(events) == b"abc"


def test_trailer_section_ends_the_message() -> None:
    events = decode_requests([CHUNKED_TRAILERS])
    assert [kind for kind, _ in events] == ["head", "body", "end"]
    assert body_of(events) == b"abc"


def test_too_many_headers_is_431() -> None:
    limits = DecoderLimits(max_headers=4)
    ok = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
    assert try_decode([ok], limits).error is None
    outcome = try_decode([ok.replace(b"\r\n\r\n", b"\r\nD: 4\r\n\r\n")], limits)
    assert outcome.error is not None and outcome.error.status == 431
    assert outcome.events == []


LIMITS = DecoderLimits(max_head_bytes=1024, max_target_bytes=256)
HUGE_HEAD = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * 8192 + b"\r\n\r\n"


@pytest.mark.parametrize(
    "piece", [len(HUGE_HEAD), 1000, 7, 1], ids=["whole", "feeds-of-1000", "feeds-of-7", "bytewise"]
)
def test_head_larger_than_limit_is_431(piece: int) -> None:
    chunks = [HUGE_HEAD[i : i + piece] for i in range(0, len(HUGE_HEAD), piece)]
    outcome = try_decode(chunks, LIMITS)
    assert outcome.error is not None and outcome.error.status == 431
    assert outcome.events == []


def test_head_within_limit_is_accepted() -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * 900 + b"\r\n\r\n"
    assert try_decode([data], LIMITS).error is None
    assert try_decode(bytewise(data), LIMITS).error is None


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "bytewise"])
def test_target_longer_than_limit_is_414(whole: bool) -> None:
    limits = DecoderLimits(max_target_bytes=64)
    ok = b"GET /" + b"a" * 63 + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    long = b"GET /" + b"a" * 64 + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    assert try_decode([ok] if whole else bytewise(ok), limits).error is None
    outcome = try_decode([long] if whole else bytewise(long), limits)
    assert outcome.error is not None and outcome.error.status == 414
    assert outcome.events == []


@pytest.mark.parametrize("value", [b"100-continue", b"100-Continue"])
def test_expect_100_continue_is_flagged(value: bytes) -> None:
    head = only_head(
        b"POST / HTTP/1.1\r\nHost: a\r\nExpect: " + value + b"\r\nContent-Length: 2\r\n\r\n"
    )
    assert head.expect_continue and head.content_length == 2


def test_expect_100_continue_is_ignored_on_http10() -> None:
    # RFC 9110 10.1.1: a server MUST ignore it; an HTTP/1.0 client cannot read a 100 response.
    head = only_head(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
    assert not head.expect_continue


@pytest.mark.parametrize("value", [b"200-ok", b"100-continue-please", b"100-continue, x"])
def test_other_expectations_are_417(value: bytes) -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nExpect: " + value + b"\r\nContent-Length: 2\r\n\r\nhi"
    outcome = try_decode([data])
    assert outcome.error is not None and outcome.error.status == 417
    assert outcome.events == []


def test_upgrade_returns_offset_of_bytes_after_the_head() -> None:
    head = b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    recorder = RequestRecorder()
    offset = RequestDecoder(recorder).feed(head + b"\x81\x05hello")
    assert offset == len(head)
    fields = recorder.heads[0]
    assert fields.upgrade == b"websocket" and b"upgrade" in fields.connection


def test_connect_returns_offset_of_tunnel_bytes() -> None:
    # feed() documents CONNECT as an upgrade whose raw bytes start at the returned offset.
    head = b"CONNECT svc.local:443 HTTP/1.1\r\nHost: svc.local:443\r\n\r\n"
    recorder = RequestRecorder()
    offset = RequestDecoder(recorder).feed(head + b"\x16\x03\x01")
    assert offset == len(head)
    assert recorder.heads[0].target == b"svc.local:443"


@pytest.mark.parametrize("name", sorted(SPLIT_CASES))
def test_byte_at_a_time_and_every_split_equal_whole(name: str) -> None:
    data = SPLIT_CASES[name]
    whole = decode_requests([data])
    assert whole and whole[-1] == ("end", None)
    assert decode_requests(bytewise(data)) == whole
    for cut in range(1, len(data)):
        assert decode_requests([data[:cut], data[cut:]]) == whole, f"split at {cut}"
