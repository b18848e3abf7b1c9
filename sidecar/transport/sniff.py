"""The inbound listener's accept loop: tells mutual TLS from plaintext by the first byte.

A TLS connection starts with a handshake record (byte 0x16). The listener peeks at that byte
without consuming it (``MSG_PEEK``), then hands the socket to the event loop as a TLS server
connection or as plaintext. PeerAuthentication decides what plaintext gets: STRICT closes it,
PERMISSIVE and DISABLE serve it (without a peer identity). ``mode`` is read for every new
connection, so a pushed change takes effect at once. A client that sends nothing within
``sniff_timeout_s`` is closed; every refusal is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

TLS_HANDSHAKE = 0x16
Factory = Callable[[], asyncio.Protocol]


class SniffingListener:
    """Accepts on one socket until closed; looks like an ``asyncio.Server`` to its owner."""

    def __init__(
        self,
        tls: ssl.SSLContext,
        tls_factory: Factory,
        plain_factory: Factory,
        *,
        sniff_timeout_s: float,
    ) -> None:
        self.mode = "STRICT"
        self.sockets: list[socket.socket] = []
        self.plaintext_refused = 0
        self._tls = tls
        self._tls_factory = tls_factory
        self._plain_factory = plain_factory
        self._timeout_s = sniff_timeout_s
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        """Binds and starts accepting. Raises OSError if the address cannot be bound."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(1024)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.sockets = [sock]
        self._spawn(self._accept_loop(sock))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError:  # out of descriptors, or a client gone before accept: go on
                await asyncio.sleep(0.01)
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._spawn(self._sniff(conn))

    async def _sniff(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout_s):
                first = await _peek(loop, conn)
            if first == TLS_HANDSHAKE:
                await loop.connect_accepted_socket(self._tls_factory, conn, ssl=self._tls)
            elif first is not None and self.mode != "STRICT":
                await loop.connect_accepted_socket(self._plain_factory, conn)
            else:
                self.plaintext_refused += first is not None
                conn.close()
        except (OSError, TimeoutError, ssl.SSLError):
            conn.close()

    def close(self) -> None:
        """Stops accepting (connections already handed over are not touched)."""
        for task in list(self._tasks):
            task.cancel()
        for sock in self.sockets:
            sock.close()


async def _peek(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> int | None:
    """The first byte the client sent, left in the socket; None if it closed first."""
    while True:
        try:
            data = conn.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            ready: asyncio.Future[None] = loop.create_future()

            def wake(ready: asyncio.Future[None] = ready) -> None:
                if not ready.done():
                    ready.set_result(None)

            loop.add_reader(conn.fileno(), wake)
            try:
                await ready
            finally:
                with contextlib.suppress(Exception):
                    loop.remove_reader(conn.fileno())
            continue
        return data[0] if data else None
