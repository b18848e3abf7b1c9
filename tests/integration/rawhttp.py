"""A raw-socket HTTP/1 client for tests: sends exact bytes, reads one response at a time.

The response reader is deliberately simple and strict about what it needs (a status line, header
lines, then a body framed by Content-Length, chunked coding or the close), so a test sees what a
real client would: the status, the headers, the body, and whether the body arrived whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

# Every wait on the network in a test is bounded by this.
IO_TIMEOUT_S = 3.0
Address = tuple[str, int]


def parse_address(text: str) -> Address:
    """``"127.0.0.1:1234"`` -> ``("127.0.0.1", 1234)``."""
    host, port = text.rsplit(":", 1)
    return host, int(port)


@dataclass
class Response:
    """A response as the client received it. ``complete`` is False if the body was cut short."""

    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    complete: bool = True

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def flags(self) -> bytes | None:
        return self.header(b"x-glassmesh-flags")


class NoResponse(AssertionError):
    """The server closed or reset the connection instead of answering."""


class RawClient:
    """One client connection. Every read and write is bounded by IO_TIMEOUT_S."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        async with asyncio.timeout(IO_TIMEOUT_S):
            self.writer.write(data)
            await self.writer.drain()

    async def request(self, data: bytes, *, head: bool = False) -> Response:
        await self.send(data)
        return await self.response(head=head)

    async def response(self, *, head: bool = False) -> Response:
        """Read one response (a 1xx counts as one). ``head``: it answers a HEAD request."""
        async with asyncio.timeout(IO_TIMEOUT_S):
            try:
                raw = await self.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                raise NoResponse(
                    f"connection closed before a response; got {exc.partial!r}"
                ) from None
            except (ConnectionResetError, ssl.SSLError) as exc:
                raise NoResponse(f"connection reset before a response: {exc!r}") from None
            lines = raw[:-4].split(b"\r\n")
            version, status, *reason = lines[0].split(b" ", 2)
            assert version in (b"HTTP/1.1", b"HTTP/1.0"), lines[0]
            headers = []
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers.append((name.lower(), value.strip(b" \t")))
            response = Response(int(status), reason[0] if reason else b"", headers, b"")
            if not (head or response.status < 200 or response.status in (204, 304)):
                await self._read_body(response)
            return response

    async def _read_body(self, response: Response) -> None:
        length = response.header(b"content-length")
        try:
            if response.header(b"transfer-encoding") == b"chunked":
                response.body = await self._read_chunked()
            elif length is not None:
                response.body = await self.reader.readexactly(int(length))
            else:
                response.body = await self.reader.read(-1)
        except asyncio.IncompleteReadError as exc:
            response.body, response.complete = exc.partial, False
        except ConnectionResetError:
            response.complete = False

    async def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int((await self.reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")  # no trailers from our sidecar
                return bytes(body)
            body += await self.reader.readexactly(size)
            assert await self.reader.readexactly(2) == b"\r\n"

    async def read_until(self, separator: bytes) -> bytes:
        async with asyncio.timeout(IO_TIMEOUT_S):
            return await self.reader.readuntil(separator)

    async def read_exactly(self, size: int) -> bytes:
        async with asyncio.timeout(IO_TIMEOUT_S):
            return await self.reader.readexactly(size)

    async def closed_by_peer(self, wait_s: float = IO_TIMEOUT_S) -> bool:
        """True if the server closes (or resets) the connection within ``wait_s`` without
        sending anything more; False if it stays open or sends more bytes."""
        try:
            async with asyncio.timeout(wait_s):
                data = await self.reader.read(1)
        except TimeoutError:
            return False
        except (ConnectionResetError, ssl.SSLError):
            return True
        return data == b""

    async def read_all(self) -> bytes:
        """Everything until the server closes; b"" if it resets the connection."""
        async with asyncio.timeout(IO_TIMEOUT_S):
            try:
                return await self.reader.read(-1)
            except (ConnectionResetError, ssl.SSLError):
                return b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            async with asyncio.timeout(1.0):
                await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def connect(
    address: Address, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[RawClient]:
    """A RawClient connected to ``address`` (over TLS with ``ssl_context``), closed on exit."""
    async with asyncio.timeout(IO_TIMEOUT_S):
        reader, writer = await asyncio.open_connection(
            address[0], address[1], ssl=ssl_context, limit=1 << 20
        )
    client = RawClient(reader, writer)
    try:
        yield client
    finally:
        await client.close()


async def get(address: Address, target: bytes = b"/x", host: bytes = b"server") -> Response:
    """One ``GET`` on a fresh connection."""
    async with connect(address) as client:
        return await client.request(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, host))
