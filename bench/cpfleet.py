"""The propagation bench's simulated sidecars: N config streams that register and ACK."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.cpstats import (
    BenchError,
    identity,
    snapshot_version,
)
from controlplane import ca
from controlplane.api.snapshot import Ack, encode


@dataclass
class Fleet:
    """N config streams: every ACK sent (version, perf_counter time) and who is still waiting."""

    size: int
    acks: list[list[tuple[int, float]]] = field(default_factory=list)
    latest: list[int] = field(default_factory=list)
    sample: bytes = b""  # the last snapshot sidecar 0 got, to describe in the report
    _floor: list[int] = field(default_factory=list)
    _waiting: set[int] = field(default_factory=set)
    _done: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.acks = [[] for _ in range(self.size)]
        self.latest = [-1] * self.size

    def acked(self, index: int, version: int, at: float) -> None:
        """Notes that sidecar ``index`` ACKed ``version`` at ``at``."""
        self.acks[index].append((version, at))
        self.latest[index] = max(self.latest[index], version)
        if index in self._waiting and version > self._floor[index]:
            self._waiting.discard(index)
            if not self._waiting:
                self._done.set()

    def expect_newer(self) -> list[int]:
        """Starts waiting for every sidecar to ACK a version above its current one."""
        self._floor = list(self.latest)
        self._waiting = set(range(self.size))
        self._done.clear()
        return self._floor

    def waiting(self) -> int:
        """How many sidecars have not yet ACKed a version newer than at ``expect_newer``."""
        return len(self._waiting)

    async def all_newer(self, timeout_s: float) -> None:
        """Returns once every sidecar has; raises BenchError after ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._done.wait()
        except TimeoutError:
            missing = self.waiting()
            raise BenchError(f"{missing} of {self.size} sidecars got no new snapshot") from None


async def _follow(fleet: Fleet, index: int, ws: aiohttp.ClientWebSocketResponse) -> None:
    """ACKs every snapshot sidecar ``index`` gets, until its stream closes."""
    with contextlib.suppress(ConnectionError, RuntimeError):
        async for message in ws:
            if message.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                continue
            version = snapshot_version(message.data)
            await ws.send_bytes(encode(Ack(version=version)))
            fleet.acked(index, version, time.perf_counter())
            if index == 0:
                fleet.sample = message.data if isinstance(message.data, bytes) else b""


def client_contexts(data_dir: Path, certs: Path, count: int, shared: bool) -> list[ssl.SSLContext]:
    """A TLS context per sidecar with its own workload certificate from the data dir's CA."""
    authority = ca.load_or_create_root(data_dir / "ca")
    contexts = []
    for index in range(count):
        issued = ca.issue_workload(authority, identity(index, shared))
        cert, key = certs / f"{index}.pem", certs / f"{index}-key.pem"
        cert.write_bytes(issued.chain_pem())
        key.write_bytes(issued.key_pem())
        ctx = ssl.create_default_context(cafile=data_dir / "ca" / "ca.pem")
        ctx.load_cert_chain(cert, key)
        contexts.append(ctx)
    return contexts
