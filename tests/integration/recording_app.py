"""A recording upstream app: keeps every byte it receives and answers according to the path.

It stands behind the inbound sidecar as the local application. Requests are decoded with h11, so
a malformed request forwarded by a sidecar is noticed here too. Paths:

``/echo`` the request body back; ``/big/N`` N deterministic bytes with Content-Length;
``/chunked/N`` the same bytes chunked; ``/close/N`` the same bytes delimited by closing;
``/slow/MS`` answers after MS milliseconds; ``/gated`` sends ``hello`` of its 10-byte body, then
``world`` once the test sets ``gate``; ``/status/N`` an empty response with status N (204, 304);
``/upgrade`` 101 then echoes raw bytes; ``/cut`` promises 100 bytes, sends 10 and closes;
``/malformed`` answers with both Content-Length and Transfer-Encoding. Any other path gets
``path=<target>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import h11

from tests.integration.rawhttp import IO_TIMEOUT_S


def pattern(size: int) -> bytes:
    """``size`` deterministic pseudo-random bytes: a reordered or lost piece shows."""
    return random.Random(size).randbytes(size)


@dataclass
class AppRequest:
    """One request as the app decoded it; ``body`` grows while the body streams in."""

    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False

    def values(self, name: bytes) -> list[bytes]:
        """Every value of header ``name`` (lower case)."""
        return [value for key, value in self.headers if key == name]

    @property
    def names(self) -> set[bytes]:
        return {key for key, _ in self.headers}


@dataclass
class AppConnection:
    """One connection the app accepted, with every byte it received on it."""

    raw: bytearray = field(default_factory=bytearray)
    requests: list[AppRequest] = field(default_factory=list)


class RecordingApp:
    """An asyncio server on 127.0.0.1 that records what reaches it. Use ``start``/``close``."""

    def __init__(self) -> None:
        self.connections: list[AppConnection] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._changed = asyncio.Event()
        self.gate = asyncio.Event()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    @property
    def requests(self) -> list[AppRequest]:
        return [r for conn in self.connections for r in conn.requests]

    @property
    def bytes_received(self) -> int:
        return sum(len(conn.raw) for conn in self.connections)

    async def wait_for(self, predicate: Callable[[], bool], wait_s: float = IO_TIMEOUT_S) -> None:
        """Wait until ``predicate()`` holds; it is checked after every byte batch or event."""
        async with asyncio.timeout(wait_s):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        record = AppConnection()
        self.connections.append(record)
        self._notify()
        try:
            await _Session(self, record, reader, writer).run()
        except (ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.close()


class _Session:
    """The h11 exchange loop of one app connection."""

    def __init__(
        self,
        app: RecordingApp,
        record: AppConnection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.app = app
        self.record = record
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)

    async def _receive(self) -> None:
        data = await self.reader.read(65536)
        self.record.raw += data
        self.app._notify()
        self.conn.receive_data(data)

    async def run(self) -> None:
        request: AppRequest | None = None
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                await self._receive()
            elif isinstance(event, h11.Request):
                request = AppRequest(event.method, event.target, list(event.headers))
                self.record.requests.append(request)
                self.app._notify()
            elif isinstance(event, h11.Data) and request is not None:
                request.body += event.data
                self.app._notify()
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                request.complete = True
                self.app._notify()
                if not await self._respond(request):
                    return
                if self.conn.our_state is h11.MUST_CLOSE:
                    return
                self.conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return

    async def _send(self, *events: h11.Event) -> None:
        for event in events:
            data = self.conn.send(event)
            if data:
                self.writer.write(data)
        await self.writer.drain()

    async def _raw(self, data: bytes) -> bool:
        self.writer.write(data)
        await self.writer.drain()
        return False

    async def _respond(self, request: AppRequest) -> bool:
        """Answer ``request``; False when the connection must end afterwards."""
        parts = request.target.split(b"?")[0].split(b"/")
        kind = parts[1] if len(parts) > 1 else b""
        arg = parts[2] if len(parts) > 2 else b"0"
        if kind in _RAW:
            return await self._raw(_RAW[kind](int(arg)))
        if kind == b"upgrade":
            return await self._upgrade()
        if kind == b"slow":
            await asyncio.sleep(int(arg) / 1000)
        if kind == b"status":
            return await self._simple(request, int(arg), b"")
        if kind == b"gated":
            return await self._gated_body()
        if kind == b"chunked":
            return await self._chunked(pattern(int(arg)))
        body = {b"echo": bytes(request.body), b"big": pattern(int(arg))}.get(
            kind, b"path=" + request.target
        )
        return await self._simple(request, 200, body)

    async def _simple(self, request: AppRequest, status: int, body: bytes) -> bool:
        headers = [(b"content-type", b"application/octet-stream")]
        if status not in (204, 304):
            headers.append((b"content-length", b"%d" % len(body)))
        events: list[h11.Event] = [h11.Response(status_code=status, headers=headers)]
        if body and request.method != b"HEAD":
            events.append(h11.Data(data=body))
        await self._send(*events, h11.EndOfMessage())
        return True

    async def _chunked(self, body: bytes) -> bool:
        await self._send(h11.Response(status_code=200, headers=[(b"x-framing", b"chunked")]))
        for start in range(0, len(body), 100_000):
            await self._send(h11.Data(data=body[start : start + 100_000]))
        await self._send(h11.EndOfMessage())
        return True

    async def _gated_body(self) -> bool:
        await self._send(
            h11.Response(status_code=200, headers=[(b"content-length", b"10")]),
            h11.Data(data=b"hello"),
        )
        await self.app.gate.wait()
        await self._send(h11.Data(data=b"world"), h11.EndOfMessage())
        return True

    async def _upgrade(self) -> bool:
        headers = [(b"connection", b"upgrade"), (b"upgrade", b"websocket")]
        await self._send(h11.InformationalResponse(status_code=101, headers=headers))
        rest, _ = self.conn.trailing_data
        if rest:
            self.record.raw += rest
            await self._raw(rest)
        while data := await self.reader.read(65536):
            self.record.raw += data
            self.app._notify()
            await self._raw(data)
        return False


def _close_delimited(size: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n\r\n" + pattern(size)


def _cut(_: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + b"x" * 10


def _malformed(_: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"


_RAW: dict[bytes, Callable[[int], bytes]] = {
    b"close": _close_delimited,
    b"cut": _cut,
    b"malformed": _malformed,
}
