"""Sans-IO HTTP/1.1 decoders: bytes in, callbacks on a sink out; never touches a socket.

llhttp (through httptools) does the framing. On top of it we validate at our own layer, as Envoy
learnt to (CVE-2019-9900): header names are tokens, values carry no CR/LF/NUL, Content-Length is
ASCII digits and agrees with itself, Transfer-Encoding is exactly ``chunked``, never together with
Content-Length, Host is present once and well formed, and the head stays within its limits. Every
violation raises :class:`ProtocolError`; the connection that fed the bytes must answer with its
status and close, so nothing after the bad bytes is ever read as a request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

import httptools

from sidecar.http1.errors import ProtocolError
from sidecar.http1.fields import (
    REQUEST_SPECIAL,
    RESPONSE_SPECIAL,
    request_framing,
    request_host,
    response_framing,
)
from sidecar.http1.head import RequestHead, ResponseHead

_TOKEN_BYTES = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# bytes.translate(None, delete=OK) leaves exactly the bytes that are not OK: one C pass.
_NAMES_OK = _TOKEN_BYTES + b"\n"
_VALUES_OK = b"\t" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
# Origin form, absolute form (proxy requests), or "*"; no fragment, no NUL, no control bytes.
_TARGET = re.compile(rb"(/|https?://[^/?#\s]+(/|\?|\Z)|\*\Z)[\x21-\x22\x24-\x7e]*\Z", re.I)
_AUTHORITY = re.compile(rb"[A-Za-z0-9\-._~]+:[0-9]{1,5}\Z")  # CONNECT's target
# Bytes a message may spend outside its body (chunk-size lines, extensions) without progress.
_MAX_FRAMING_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class DecoderLimits:
    """Size limits applied while decoding a message head."""

    max_head_bytes: int = 60 * 1024
    max_headers: int = 100
    max_target_bytes: int = 8 * 1024


class RequestSink(Protocol):
    """Receives the events of decoded requests, in order."""

    def on_request_head(self, head: RequestHead) -> None: ...
    def on_request_body(self, data: bytes) -> None: ...
    def on_request_end(self) -> None: ...


class ResponseSink(Protocol):
    """Receives the events of decoded responses, in order."""

    def on_response_head(self, head: ResponseHead) -> None: ...
    def on_response_body(self, data: bytes) -> None: ...
    def on_response_end(self) -> None: ...


class _Decoder:
    """State shared by the request and response decoders: head accounting and header checks.

    Header fields arrive from llhttp as a flat list (name, value, name, value, ...) and are
    validated all at once when the head is complete: one regular-expression pass over all names
    and one over all values, in C, instead of work per field.
    """

    __slots__ = (
        "_body_seen",
        "_fed_in_head",
        "_in_body",
        "_limits",
        "_parser",
        "_raw",
    )

    def __init__(self, limits: DecoderLimits) -> None:
        self._limits = limits
        self._parser: Any = None  # the httptools parser, set by the subclass
        self._raw: list[bytes] = []
        self._in_body = False
        self._fed_in_head = 0
        self._body_seen = 0

    # httptools callbacks ----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._raw = []

    def on_header(self, name: bytes, value: bytes) -> None:
        # After the head, these are trailer fields: they land in a list nobody reads, so they
        # are dropped, never merged into the head (RFC 9110 6.5).
        raw = self._raw
        raw.append(name)
        raw.append(value)

    def on_body(self, data: bytes) -> None:
        self._body_seen = 0
        self._deliver_body(data)

    def on_chunk_header(self) -> None:
        self._body_seen = 0

    # shared helpers ---------------------------------------------------------------------------
    def _deliver_body(self, data: bytes) -> None:
        raise NotImplementedError

    def _head_done(self, extra_bytes: int) -> tuple[list[bytes], list[bytes]]:
        """Validate the fields of a complete head: (lower-case names, values). Raises
        ProtocolError for too many or too large fields, non-token names, or CR/LF/NUL/control
        bytes in values."""
        raw = self._raw
        self._raw = []
        self._in_body = True
        self._fed_in_head = 0
        self._body_seen = 0
        names = raw[0::2]
        values = raw[1::2]
        limits = self._limits
        if len(names) > limits.max_headers:
            raise ProtocolError(431, "too many headers")
        if not names:
            return names, values
        joined = b"\n".join(names)
        joined_values = b"\t".join(values)
        if len(joined) + len(joined_values) + 3 * len(names) + extra_bytes > limits.max_head_bytes:
            raise ProtocolError(431, "header section too large")
        if joined.translate(None, _NAMES_OK) or b"\n\n" in joined:
            raise ProtocolError(400, "invalid header name")
        if joined_values.translate(None, _VALUES_OK):
            raise ProtocolError(400, "invalid character in header value")
        if b" \t" in joined_values or b"\t\t" in joined_values or joined_values[-1:] in b" \t":
            values = [v.rstrip(b" \t") for v in values]  # llhttp keeps trailing whitespace
        return joined.lower().split(b"\n"), values

    def _feed(self, data: bytes) -> int:
        """Feed llhttp, bounding the bytes a head, or the framing between body bytes, may take.
        Returns the offset where an upgraded stream's raw bytes start, or -1."""
        in_body = self._in_body
        if in_body:
            self._body_seen += len(data)
        else:
            self._fed_in_head += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            return int(exc.args[0])
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, ProtocolError | _HeadResponseDone):
                raise cause from None
            raise  # our own bug in a callback: let it surface as one
        except httptools.HttpParserError as exc:
            raise ProtocolError(400, f"malformed message: {_reason(exc)}") from None
        if self._in_body:
            if self._body_seen > _MAX_FRAMING_BYTES:
                raise ProtocolError(400, "chunk framing too large")
        elif self._fed_in_head > self._limits.max_head_bytes + self._limits.max_target_bytes:
            raise ProtocolError(431, "header section too large")
        return -1

    def _message_done(self) -> None:
        self._in_body = False
        self._fed_in_head = 0


def _reason(exc: Exception) -> str:
    text = str(exc.args[0] if exc.args else exc)
    return text.replace("\r", " ").replace("\n", " ")[:80]


class RequestDecoder(_Decoder):
    """Decodes requests from a downstream byte stream into :class:`RequestSink` events.

    After a request ends, later pipelined events are held until :meth:`resume` is called, so a
    connection answers requests one at a time and in order.
    """

    __slots__ = ("_carry", "_data", "_held", "_in_line", "_sink", "_target", "deferred")

    def __init__(self, sink: RequestSink, limits: DecoderLimits | None = None) -> None:
        super().__init__(limits or DecoderLimits())
        self._sink = sink
        self._parser = httptools.HttpRequestParser(self)
        self._target = b""
        self._held = False
        self._data = b""
        self._carry: list[bytes] = []
        self._in_line = False
        # Events of pipelined requests waiting for resume(); non-empty is what callers check.
        self.deferred: list[tuple[str, object]] = []

    def feed(self, data: bytes) -> int:
        """Decode ``data``. Returns -1, or the offset in ``data`` where the bytes of an upgraded
        connection (WebSocket, CONNECT) begin. Raises ProtocolError for a bad request; events
        for requests before it have been delivered (or held) first."""
        self._data = data
        try:
            return self._feed(data)
        except ProtocolError as exc:
            if not self._held:
                raise
            self.deferred.append(("error", exc))
            return -1
        finally:
            if self._in_line:
                # The head is still arriving: keep its bytes for the request-line check in
                # _check_request_line (bounded by the 414/431 limits).
                self._carry.append(data)

    @property
    def held(self) -> bool:
        """True while a finished request waits for :meth:`resume`."""
        return self._held

    def resume(self) -> None:
        """Deliver the events held since the last request ended, up to the next request's end.
        Raises the ProtocolError of a bad pipelined request when its turn comes."""
        self._held = False
        while self.deferred and not self._held:
            kind, arg = self.deferred.pop(0)
            self._dispatch(kind, arg)

    def _dispatch(self, kind: str, arg: object) -> None:
        if kind == "head":
            assert isinstance(arg, RequestHead)
            self._sink.on_request_head(arg)
        elif kind == "body":
            assert isinstance(arg, bytes)
            self._sink.on_request_body(arg)
        elif kind == "end":
            self._held = True
            self._sink.on_request_end()
        else:
            assert isinstance(arg, ProtocolError)
            raise arg

    # httptools callbacks ----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._raw = []
        self._target = b""
        self._in_line = True
        self._carry = []

    def on_url(self, url: bytes) -> None:
        target = self._target + url if self._target else url
        self._target = target
        if len(target) > self._limits.max_target_bytes:
            raise ProtocolError(414, "request target too long")

    def on_headers_complete(self) -> None:
        self._in_line = False
        head = self._build_head()
        if self._held:
            self.deferred.append(("head", head))
        else:
            self._sink.on_request_head(head)

    def _deliver_body(self, data: bytes) -> None:
        if self._held:
            self.deferred.append(("body", data))
        else:
            self._sink.on_request_body(data)

    def on_message_complete(self) -> None:
        self._message_done()
        if self._held:
            self.deferred.append(("end", None))
        else:
            self._held = True
            self._sink.on_request_end()

    # validation -------------------------------------------------------------------------------
    def _build_head(self) -> RequestHead:
        names, values = self._head_done(len(self._target))
        parser = self._parser
        version = parser.get_http_version()
        if version not in ("1.1", "1.0"):
            raise ProtocolError(400, "unsupported HTTP version")
        target = self._target
        method: bytes = parser.get_method()
        if method == b"CONNECT":
            if not _AUTHORITY.match(target):
                raise ProtocolError(400, "invalid CONNECT target")
        elif not _TARGET.match(target) or b"%00" in target:
            raise ProtocolError(400, "invalid request target")
        self._check_request_line(b"%s %s HTTP/%s\r\n" % (method, target, version.encode()))
        head = RequestHead(method, target, version == "1.1", names, values)
        head.host = request_host(head.http11, names, values)
        if not REQUEST_SPECIAL.isdisjoint(names):
            request_framing(head, names, values)
        head.keep_alive = bool(parser.should_keep_alive())
        return head

    def _check_request_line(self, line: bytes) -> None:
        """llhttp tolerates runs of spaces in the request line; we do not (RFC 9112 3)."""
        window = self._data
        if self._carry:
            window = b"".join(self._carry) + window
        self._carry = []
        if line not in window:
            raise ProtocolError(400, "malformed request line")


class ResponseDecoder(_Decoder):
    """Decodes responses from an upstream byte stream into :class:`ResponseSink` events.

    ``sink`` may be replaced between responses (a pooled connection serves many exchanges).
    Call :meth:`expect_head_response` before a response to a HEAD request: it has no body
    whatever its headers say. Bad framing from the upstream raises ProtocolError(502).
    """

    __slots__ = ("_head_only", "_heads_in_feed", "_reason", "_tail", "sink")

    def __init__(self, sink: ResponseSink, limits: DecoderLimits | None = None) -> None:
        super().__init__(limits or DecoderLimits())
        self.sink = sink
        self._parser = httptools.HttpResponseParser(self)
        self._reason = b""
        self._head_only = False
        self._heads_in_feed = 0
        self._tail = b""

    def expect_head_response(self) -> None:
        """The next response answers a HEAD request."""
        self._head_only = True

    def feed(self, data: bytes) -> int:
        """Decode ``data``; returns -1 or the offset where a 101 upgrade's raw bytes begin."""
        self._heads_in_feed = 0
        try:
            return self._feed(data)
        except _HeadResponseDone:
            return self._after_head_response(data)
        except ProtocolError as exc:
            raise ProtocolError(502, f"upstream: {exc.reason}") from None
        finally:
            self._tail = data[-3:]

    def _after_head_response(self, data: bytes) -> int:
        """llhttp cannot be told that a response answers HEAD and has no body, so its parser
        was stopped at the end of the head; decode what follows with a fresh one."""
        self._message_done()
        self._parser = httptools.HttpResponseParser(self)
        window = self._tail + data
        end = -4
        for _ in range(self._heads_in_feed):  # the n-th blank line ends this feed's n-th head
            end = window.find(b"\r\n\r\n", end + 4)
        rest = window[end + 4 :]
        self.sink.on_response_end()
        return self.feed(rest) if rest else -1

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_headers_complete(self) -> None:
        self._heads_in_feed += 1
        names, values = self._head_done(len(self._reason))
        parser = self._parser
        head = ResponseHead(parser.get_status_code(), self._reason, names, values)
        self._reason = b""
        if not RESPONSE_SPECIAL.isdisjoint(names):
            response_framing(head, names, values, parser.get_http_version() == "1.1")
        head.keep_alive = bool(parser.should_keep_alive())
        if self._head_only and head.status >= 200:
            self._head_only = False
            head.head_only = True
            self.sink.on_response_head(head)
            raise _HeadResponseDone
        self.sink.on_response_head(head)

    def _deliver_body(self, data: bytes) -> None:
        self.sink.on_response_body(data)

    def on_message_complete(self) -> None:
        self._message_done()
        self.sink.on_response_end()


class _HeadResponseDone(Exception):
    """Raised out of llhttp to stop it after the head of a response to HEAD."""
