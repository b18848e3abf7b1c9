"""Recording sinks and feeding helpers shared by the HTTP/1 codec tests.

A sink records every event as a comparable tuple, so two ways of feeding the same bytes can be
checked for identical results once adjacent body pieces are joined.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sidecar.http1.codec import DecoderLimits, RequestDecoder, ResponseDecoder
from sidecar.http1.errors import ProtocolError
from sidecar.http1.head import RequestHead, ResponseHead


@dataclass(frozen=True)
class RequestFields:
    """Everything a decoded request head tells the proxy, as a comparable value."""

    method: bytes
    target: bytes
    host: bytes
    http11: bool
    keep_alive: bool
    content_length: int
    chunked: bool
    expect_continue: bool
    connection: tuple[bytes, ...]
    upgrade: bytes
    headers: tuple[tuple[bytes, bytes], ...]

    @classmethod
    def of(cls, head: RequestHead) -> RequestFields:
        return cls(
            head.method,
            head.target,
            head.host,
            head.http11,
            head.keep_alive,
            head.content_length,
            head.chunked,
            head.expect_continue,
            tuple(head.connection),
            head.upgrade,
            tuple(head.headers),
        )


@dataclass(frozen=True)
class ResponseFields:
    """Everything a decoded response head tells the proxy, as a comparable value."""

    status: int
    reason: bytes
    keep_alive: bool
    content_length: int
    chunked: bool
    head_only: bool
    headers: tuple[tuple[bytes, bytes], ...]

    @classmethod
    def of(cls, head: ResponseHead) -> ResponseFields:
        return cls(
            head.status,
            head.reason,
            head.keep_alive,
            head.content_length,
            head.chunked,
            head.head_only,
            tuple(head.headers),
        )


Event = tuple[str, RequestFields | ResponseFields | bytes | None]


class RequestRecorder:
    """A RequestSink that records events in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_request_head(self, head: RequestHead) -> None:
        self.events.append(("head", RequestFields.of(head)))

    def on_request_body(self, data: bytes) -> None:
        self.events.append(("body", data))

    def on_request_end(self) -> None:
        self.events.append(("end", None))

    @property
    def heads(self) -> list[RequestFields]:
        return [arg for kind, arg in self.events if isinstance(arg, RequestFields)]


class ResponseRecorder:
    """A ResponseSink that records events in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_response_head(self, head: ResponseHead) -> None:
        self.events.append(("head", ResponseFields.of(head)))

    def on_response_body(self, data: bytes) -> None:
        self.events.append(("body", data))

    def on_response_end(self) -> None:
        self.events.append(("end", None))


def coalesce(events: Iterable[Event]) -> list[Event]:
    """``events`` with adjacent non-empty body pieces joined, empty ones dropped: how a body
    is cut into pieces depends on how the bytes arrived, and carries no meaning."""
    out: list[Event] = []
    for kind, arg in events:
        if kind == "body" and not arg:
            continue
        if kind == "body" and out and out[-1][0] == "body":
            previous = out.pop()[1]
            assert isinstance(previous, bytes) and isinstance(arg, bytes)
            out.append((kind, previous + arg))
        else:
            out.append((kind, arg))
    return out


def body_of(events: Iterable[Event]) -> bytes:
    return b"".join(arg for kind, arg in events if kind == "body" and isinstance(arg, bytes))


def drain(decoder: RequestDecoder) -> None:
    """Answer every finished request at once: resume until no pipelined event is held."""
    while decoder.held:
        decoder.resume()


def decode_requests(chunks: Iterable[bytes], limits: DecoderLimits | None = None) -> list[Event]:
    """Feed ``chunks`` in order, resuming after every request; the coalesced events."""
    recorder = RequestRecorder()
    decoder = RequestDecoder(recorder, limits)
    for chunk in chunks:
        decoder.feed(chunk)
        drain(decoder)
    return coalesce(recorder.events)


def decode_responses(chunks: Iterable[bytes]) -> list[Event]:
    """Feed ``chunks`` to one ResponseDecoder; the coalesced events."""
    recorder = ResponseRecorder()
    decoder = ResponseDecoder(recorder)
    for chunk in chunks:
        decoder.feed(chunk)
    return coalesce(recorder.events)


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def split_at(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` cut at the sorted offsets ``cuts``."""
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@dataclass
class Outcome:
    """How a RequestDecoder took some bytes: the error it raised (if any) and the events."""

    error: ProtocolError | None
    events: list[Event]


def try_decode(chunks: Iterable[bytes], limits: DecoderLimits | None = None) -> Outcome:
    """Like :func:`decode_requests`, but a ProtocolError ends the feeding and is returned."""
    recorder = RequestRecorder()
    decoder = RequestDecoder(recorder, limits)
    try:
        for chunk in chunks:
            decoder.feed(chunk)
            drain(decoder)
    except ProtocolError as exc:
        return Outcome(exc, coalesce(recorder.events))
    return Outcome(None, coalesce(recorder.events))
