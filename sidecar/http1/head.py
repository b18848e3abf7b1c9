"""Message heads: the start line and the header fields of a request or response.

Fields are kept as two parallel lists, lower-case names and values, because that is what the
decoder produces and what the request path needs: membership tests on ``names`` run in C.
"""

from __future__ import annotations


class RequestHead:
    """A decoded request head. Framing fields are filled in by the decoder after validation."""

    __slots__ = (
        "chunked",
        "connection",
        "content_length",
        "expect_continue",
        "host",
        "http11",
        "keep_alive",
        "method",
        "names",
        "target",
        "upgrade",
        "values",
    )

    def __init__(
        self, method: bytes, target: bytes, http11: bool, names: list[bytes], values: list[bytes]
    ) -> None:
        self.method = method
        self.target = target
        self.http11 = http11
        self.names = names
        self.values = values
        self.host = b""
        self.keep_alive = http11
        self.chunked = False
        self.content_length = -1
        self.expect_continue = False
        self.connection: list[bytes] = []
        self.upgrade = b""

    def field(self, name: bytes) -> bytes | None:
        """The first value of field ``name`` (lower case), or None."""
        names = self.names
        if name not in names:
            return None
        return self.values[names.index(name)]

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """The fields as (lower-case name, value) pairs, in order."""
        return list(zip(self.names, self.values, strict=True))

    @property
    def upgrading(self) -> bool:
        """True when the client asks to switch protocols (``Upgrade`` + ``Connection: upgrade``)."""
        return bool(self.upgrade) and b"upgrade" in self.connection

    @property
    def has_body(self) -> bool:
        """True if body bytes follow the head."""
        return self.chunked or self.content_length > 0


class ResponseHead:
    """A decoded response head; same conventions as :class:`RequestHead`."""

    __slots__ = (
        "chunked",
        "connection",
        "content_length",
        "head_only",
        "keep_alive",
        "names",
        "reason",
        "status",
        "values",
    )

    def __init__(self, status: int, reason: bytes, names: list[bytes], values: list[bytes]) -> None:
        self.status = status
        self.reason = reason
        self.names = names
        self.values = values
        self.keep_alive = True
        self.chunked = False
        self.content_length = -1
        self.head_only = False
        self.connection: list[bytes] = []

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """The fields as (lower-case name, value) pairs, in order."""
        return list(zip(self.names, self.values, strict=True))

    @property
    def bodyless(self) -> bool:
        """True when the response can carry no body (1xx, 204, 304, or it answers HEAD)."""
        return self.head_only or self.status < 200 or self.status in (204, 304)
