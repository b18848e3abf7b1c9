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
from sidecar.http1.head import RequestHead, ResponseHead

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_DIGITS = re.compile(rb"[0-9]{1,18}\Z")
# Origin form, absolute form (proxy requests), or "*"; no fragment, no NUL, no control bytes.
_TARGET = re.compile(rb"(/|https?://[^/?#\s]+(/|\?|\Z)|\*\Z)[\x21-\x7e]*\Z", re.IGNORECASE)
_HOST = re.compile(rb"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(:[0-9]{0,5})?\Z")
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
    """State shared by the request and response decoders: head accounting and header checks."""

    __slots__ = (
        "_body_seen",
        "_fed_in_head",
        "_headers",
        "_in_head",
        "_limits",
        "_parser",
    )

    def __init__(self, limits: DecoderLimits) -> None:
        self._limits = limits
        self._parser: Any = None  # the httptools parser, set by the subclass
        self._headers: list[tuple[bytes, bytes]] = []
        self._in_head = False
        self._fed_in_head = 0
        self._body_seen = 0

    # httptools callbacks ----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._in_head = True
        self._fed_in_head = 0
        self._headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            return  # a trailer field: dropped, never merged into the head (RFC 9110 6.5)
        if not _TOKEN.match(name):
            raise ProtocolError(400, "invalid header name")
        if _BAD_VALUE.search(value):
            raise ProtocolError(400, "invalid character in header value")
        headers = self._headers
        headers.append((name.lower(), value.strip(b" \t")))
        if len(headers) > self._limits.max_headers:
            raise ProtocolError(431, "too many headers")

    def on_body(self, data: bytes) -> None:
        self._body_seen = 0
        self._deliver_body(data)

    def on_chunk_header(self) -> None:
        self._body_seen = 0

    # shared helpers ---------------------------------------------------------------------------
    def _deliver_body(self, data: bytes) -> None:
        raise NotImplementedError

    def _account(self, size: int) -> None:
        """Bound the bytes a head, or the framing between body bytes, may take."""
        if self._in_head:
            self._fed_in_head += size
            if self._fed_in_head > self._limits.max_head_bytes + self._limits.max_target_bytes:
                raise ProtocolError(431, "request header section too large")
        else:
            self._body_seen += size
            if self._body_seen > _MAX_FRAMING_BYTES + size:
                raise ProtocolError(400, "chunk framing too large")

    def _run(self, data: bytes) -> int:
        """Feed llhttp; return the offset where an upgraded stream's raw bytes start, or -1."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            return int(exc.args[0])
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, ProtocolError):
                raise cause from None
            raise  # our own bug in a callback: let it surface as one
        except httptools.HttpParserError as exc:
            raise ProtocolError(400, f"malformed message: {_reason(exc)}") from None
        return -1


def _reason(exc: Exception) -> str:
    text = str(exc.args[0] if exc.args else exc)
    return text.replace("\r", " ").replace("\n", " ")[:80]


def content_length(values: list[bytes]) -> int:
    """The one Content-Length that every value agrees on; raises ProtocolError otherwise."""
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
    if len(values) != 1 or values[0].lower() != b"chunked":
        raise ProtocolError(400, "unsupported Transfer-Encoding")
    return True


class RequestDecoder(_Decoder):
    """Decodes requests from a downstream byte stream into :class:`RequestSink` events.

    After a request ends, later pipelined events are held until :meth:`resume` is called, so a
    connection answers requests one at a time and in order.
    """

    __slots__ = ("_deferred", "_held", "_sink", "_target", "_target_len")

    def __init__(self, sink: RequestSink, limits: DecoderLimits | None = None) -> None:
        super().__init__(limits or DecoderLimits())
        self._sink = sink
        self._parser = httptools.HttpRequestParser(self)
        self._target: list[bytes] = []
        self._target_len = 0
        self._held = False
        self._deferred: list[tuple[str, object]] = []

    def feed(self, data: bytes) -> int:
        """Decode ``data``. Returns -1, or the offset in ``data`` where the bytes of an upgraded
        connection (WebSocket, CONNECT) begin. Raises ProtocolError for a bad request; events
        for requests before it have been delivered (or held) first."""
        self._account(len(data))
        try:
            return self._run(data)
        except ProtocolError as exc:
            if not self._held:
                raise
            self._deferred.append(("error", exc))
            return -1

    @property
    def has_deferred(self) -> bool:
        """True when events of a pipelined request wait behind the current one."""
        return bool(self._deferred)

    @property
    def held(self) -> bool:
        """True while a finished request waits for :meth:`resume`."""
        return self._held

    def resume(self) -> None:
        """Deliver the events held since the last request ended, up to the next request's end.
        Raises the ProtocolError of a bad pipelined request when its turn comes."""
        self._held = False
        while self._deferred and not self._held:
            kind, arg = self._deferred.pop(0)
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
        super().on_message_begin()
        self._target = []
        self._target_len = 0

    def on_url(self, url: bytes) -> None:
        self._target.append(url)
        self._target_len += len(url)
        if self._target_len > self._limits.max_target_bytes:
            raise ProtocolError(414, "request target too long")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._body_seen = 0
        head = self._build_head()
        if self._held:
            self._deferred.append(("head", head))
        else:
            self._sink.on_request_head(head)

    def _deliver_body(self, data: bytes) -> None:
        if self._held:
            self._deferred.append(("body", data))
        else:
            self._sink.on_request_body(data)

    def on_message_complete(self) -> None:
        if self._held:
            self._deferred.append(("end", None))
        else:
            self._held = True
            self._sink.on_request_end()

    # validation -------------------------------------------------------------------------------
    def _build_head(self) -> RequestHead:
        parser = self._parser
        version = parser.get_http_version()
        if version not in ("1.1", "1.0"):
            raise ProtocolError(400, "unsupported HTTP version")
        target = b"".join(self._target)
        if not _TARGET.match(target) or b"%00" in target:
            raise ProtocolError(400, "invalid request target")
        head = RequestHead(parser.get_method(), target, version == "1.1", self._headers)
        _check_request_framing(head)
        head.keep_alive = bool(parser.should_keep_alive())
        return head


def _check_request_framing(head: RequestHead) -> None:
    """Fill the framing fields of ``head`` from its headers; raise ProtocolError if ambiguous."""
    hosts, lengths, codings = _scan_request_headers(head)
    if len(hosts) > 1 or (head.http11 and not hosts):
        raise ProtocolError(400, "a request needs exactly one Host header")
    if hosts:
        if not _HOST.match(hosts[0]):
            raise ProtocolError(400, "invalid Host header")
        head.host = hosts[0]
    if codings:
        if lengths:
            raise ProtocolError(400, "both Content-Length and Transfer-Encoding")
        if not head.http11:
            raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
        head.chunked = _chunked(codings)
    elif lengths:
        head.content_length = content_length(lengths)


def _scan_request_headers(head: RequestHead) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """One pass over the fields: (Host values, Content-Length values, Transfer-Encoding values);
    also sets ``connection``, ``expect_continue`` and ``upgrade`` on ``head``."""
    hosts: list[bytes] = []
    lengths: list[bytes] = []
    codings: list[bytes] = []
    for name, value in head.headers:
        if name == b"host":
            hosts.append(value)
        elif name == b"content-length":
            lengths.append(value)
        elif name == b"transfer-encoding":
            codings.append(value)
        elif name == b"connection":
            head.connection = [t.strip(b" \t").lower() for t in value.split(b",")]
        elif name == b"expect":
            if value.lower() != b"100-continue":
                raise ProtocolError(417, "unsupported expectation")
            head.expect_continue = True
        elif name == b"upgrade":
            head.upgrade = value
    return hosts, lengths, codings


class ResponseDecoder(_Decoder):
    """Decodes responses from an upstream byte stream into :class:`ResponseSink` events.

    Call :meth:`expect_head_response` before a response to a HEAD request: it has no body
    whatever its headers say. Bad framing from the upstream raises ProtocolError(502).
    """

    __slots__ = ("_head_only", "_reason", "_sink", "_swallow_end")

    def __init__(self, sink: ResponseSink, limits: DecoderLimits | None = None) -> None:
        super().__init__(limits or DecoderLimits())
        self._sink = sink
        self._parser = httptools.HttpResponseParser(self)
        self._reason = b""
        self._head_only = False
        self._swallow_end = False

    def expect_head_response(self) -> None:
        """The next response answers a HEAD request."""
        self._head_only = True

    def feed(self, data: bytes) -> int:
        """Decode ``data``; returns -1 or the offset where a 101 upgrade's raw bytes begin."""
        try:
            self._account(len(data))
            return self._run(data)
        except ProtocolError as exc:
            raise ProtocolError(502, f"upstream: {exc.reason}") from None
        finally:
            self._swallow_end = False

    def on_status(self, reason: bytes) -> None:
        self._reason = reason

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._body_seen = 0
        parser = self._parser
        head = ResponseHead(parser.get_status_code(), self._reason, self._headers)
        self._reason = b""
        _check_response_framing(head, parser.get_http_version() == "1.1")
        head.keep_alive = bool(parser.should_keep_alive())
        self._sink.on_response_head(head)
        if self._head_only and head.status >= 200:
            # llhttp cannot be told to skip the body of a HEAD response, so end the message
            # here and give the connection a fresh parser for its next response.
            self._head_only = False
            self._swallow_end = True  # the old parser may still report this message's end
            head.head_only = True
            self._parser = httptools.HttpResponseParser(self)
            self._sink.on_response_end()

    def _deliver_body(self, data: bytes) -> None:
        self._sink.on_response_body(data)

    def on_message_complete(self) -> None:
        if self._swallow_end:
            self._swallow_end = False
            return
        self._sink.on_response_end()


def _check_response_framing(head: ResponseHead, http11: bool) -> None:
    lengths: list[bytes] = []
    codings: list[bytes] = []
    for name, value in head.headers:
        if name == b"content-length":
            lengths.append(value)
        elif name == b"transfer-encoding":
            codings.append(value)
        elif name == b"connection":
            head.connection = [t.strip(b" \t").lower() for t in value.split(b",")]
    if codings:
        if lengths:
            raise ProtocolError(502, "both Content-Length and Transfer-Encoding")
        head.chunked = http11 and _chunked(codings)
    elif lengths:
        head.content_length = content_length(lengths)
