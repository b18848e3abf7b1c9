"""Back pressure: a client that stops reading makes the sidecars stop reading from the app, so
memory stays bounded however large the response (reliability catalogue 8.3, item 34)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sidecar.server import Sidecar
from tests.integration.mesh import (
    CLIENT_ID,
    SERVER_ID,
    Certs,
    bound,
    server_cluster,
    sidecar_config,
)

BODY = 256 * 1024 * 1024  # far more than every buffer on the path together
CHUNK = 64 * 1024
# Socket buffers on four loopback hops plus each sidecar's write-buffer limit stay well under it.
BOUND = 64 * 1024 * 1024


class FloodApp:
    """Answers any request with a BODY-byte response, writing as fast as the path accepts."""

    def __init__(self) -> None:
        self.written = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BODY)
        block = b"x" * CHUNK
        try:
            while self.written < BODY:
                writer.write(block)
                self.written += CHUNK
                await writer.drain()  # blocks while the sidecar is not reading
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port


@pytest.fixture
async def flood() -> AsyncIterator[FloodApp]:
    app = FloodApp()
    app.server = await asyncio.start_server(app.handle, "127.0.0.1", 0)
    yield app
    app.server.close()


async def test_a_client_that_stops_reading_stops_the_app(certs: Certs, flood: FloodApp) -> None:
    b = Sidecar(sidecar_config(certs, "server", SERVER_ID, flood.port), certs.directory)
    await b.start()
    cluster = server_cluster([bound(b, "inbound")])
    a = Sidecar(
        sidecar_config(certs, "client", CLIENT_ID, flood.port, clusters=[cluster]),
        certs.directory,
    )
    await a.start()
    try:
        host, port = bound(a, "outbound")
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /big HTTP/1.1\r\nHost: server\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        await asyncio.sleep(1.5)  # the client reads nothing more meanwhile
        stalled_at = flood.written
        assert stalled_at < BOUND, f"the app wrote {stalled_at} bytes into a stalled path"
        received = 0
        async with asyncio.timeout(10):
            while received < 8 * 1024 * 1024:  # reading again lets the app go on
                received += len(await reader.read(1 << 20))
        assert flood.written > stalled_at
        writer.close()
    finally:
        await a.shutdown()
        await b.shutdown()
