"""Bounded decompression: a request body never grows past the limit in memory.

A gzip bomb (a few hundred KiB expanding to gigabytes) is refused after inflating at most
``limit + 1`` bytes, whatever its ratio (CVE-2024-36129 was the OpenTelemetry Collector
inflating without a bound).
"""

from __future__ import annotations

import zlib

CHUNK = 64 * 1024


class TooLarge(Exception):
    """The body, after decompression, is larger than the limit."""


class BadEncoding(Exception):
    """The body is not valid for its Content-Encoding, or the encoding is unknown."""


class Inflater:
    """Feed compressed chunks, get the decompressed body; raises TooLarge past ``limit``."""

    def __init__(self, encoding: str, limit: int) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._wbits: int | None = None
        elif encoding in ("gzip", "x-gzip"):
            self._wbits = 16 + zlib.MAX_WBITS
        elif encoding == "deflate":
            self._wbits = zlib.MAX_WBITS
        else:
            raise BadEncoding(f"unsupported Content-Encoding {encoding[:40]!r}")
        self._limit = limit
        self._parts: list[bytes] = []
        self._size = 0
        self._z = zlib.decompressobj(self._wbits) if self._wbits is not None else None

    def feed(self, data: bytes) -> None:
        """Take one chunk of the (compressed) body."""
        if self._z is None:
            self._add(data)
            return
        while data:
            try:
                out = self._z.decompress(data, self._limit + 1 - self._size)
            except zlib.error as exc:
                raise BadEncoding(f"corrupt compressed body: {exc}") from None
            self._add(out)
            data = self._z.unconsumed_tail
            if self._z.eof and self._z.unused_data:  # a further gzip member follows
                data = self._z.unused_data
                self._z = zlib.decompressobj(self._z_wbits())

    def finish(self) -> bytes:
        """The whole decompressed body. Raises BadEncoding for a truncated stream."""
        if self._z is not None and not self._z.eof:
            raise BadEncoding("truncated compressed body")
        return b"".join(self._parts)

    def _z_wbits(self) -> int:
        return self._wbits if self._wbits is not None else zlib.MAX_WBITS

    def _add(self, out: bytes) -> None:
        self._size += len(out)
        if self._size > self._limit:
            self._parts.clear()
            raise TooLarge(f"body larger than {self._limit} bytes after decompression")
        self._parts.append(out)


def inflate(data: bytes, encoding: str, limit: int) -> bytes:
    """``data`` decoded per ``encoding``, at most ``limit`` bytes. Raises TooLarge, BadEncoding."""
    inflater = Inflater(encoding, limit)
    for i in range(0, len(data), CHUNK):
        inflater.feed(data[i : i + CHUNK])
    return inflater.finish()
