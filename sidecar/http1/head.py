"""Message heads: the start line and the header fields of a request or response."""

from __future__ import annotations


class RequestHead:
    """A decoded request head. Header names are lower-case; values are stripped of outer
    whitespace. Framing fields are filled in by the decoder after validation."""

    __slots__ = (
        "chunked",
        "connection",
        "content_length",
        "expect_continue",
        "headers",
        "host",
        "http11",
        "keep_alive",
        "method",
        "target",
        "upgrade",
    )

    def __init__(
        self, method: bytes, target: bytes, http11: bool, headers: list[tuple[bytes, bytes]]
    ) -> None:
        self.method = method
        self.target = target
        self.http11 = http11
        self.headers = headers
        self.host = b""
        self.keep_alive = http11
        self.chunked = False
        self.content_length = -1
        self.expect_continue = False
        self.connection: list[bytes] = []
        self.upgrade = b""

    @property
    def has_body(self) -> bool:
        """True if body bytes follow the head."""
        return self.chunked or self.content_length > 0

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower-case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


class ResponseHead:
    """A decoded response head; same conventions as :class:`RequestHead`."""

    __slots__ = (
        "chunked",
        "connection",
        "content_length",
        "head_only",
        "headers",
        "keep_alive",
        "reason",
        "status",
    )

    def __init__(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.keep_alive = True
        self.chunked = False
        self.content_length = -1
        self.head_only = False
        self.connection: list[bytes] = []

    @property
    def bodyless(self) -> bool:
        """True when the response can carry no body (1xx, 204, 304, or it answers HEAD)."""
        return self.head_only or self.status < 200 or self.status in (204, 304)
