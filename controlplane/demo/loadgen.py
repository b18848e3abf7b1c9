"""The demo's load generator: shoppers at a steady rate, open loop.

A request starts every ``1/rate`` seconds whether or not earlier ones have answered (as real
users arrive), so a slow service shows up as latency, not as fewer requests. At most
``max_in_flight`` wait at once; past that a request is skipped and counted. Two of three requests
browse (``GET /``), one checks out (``POST /checkout``).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass
class LoadCounts:
    """What the load generator saw, for the live view."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0  # not sent: max_in_flight were waiting


class LoadGenerator:
    """Sends to ``target`` (the frontend's sidecar) at ``rate`` requests per second."""

    def __init__(self, target: str, rate: float, max_in_flight: int = 200) -> None:
        self.target = target.rstrip("/")
        self.rate = rate
        self.max_in_flight = max_in_flight
        self.counts = LoadCounts()
        self._in_flight: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Send until cancelled; cancelling waits for nothing (in-flight requests are cut)."""
        interval = 1.0 / self.rate
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession(headers={"Host": "frontend"}) as session:
            try:
                due = loop.time()
                while True:
                    self._launch(session, self.counts.sent + self.counts.skipped)
                    due += interval
                    await asyncio.sleep(max(0.0, due - loop.time()))
            finally:
                for task in self._in_flight:
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _launch(self, session: aiohttp.ClientSession, n: int) -> None:
        if len(self._in_flight) >= self.max_in_flight:
            self.counts.skipped += 1
            return
        self.counts.sent += 1
        method, path = ("POST", "/checkout") if n % 3 == 2 else ("GET", "/")
        task = asyncio.create_task(self._one(session, method, f"{path}?user=u{n % 5}"))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _one(self, session: aiohttp.ClientSession, method: str, path: str) -> None:
        try:
            async with session.request(method, self.target + path, timeout=TIMEOUT) as resp:
                await resp.read()
                ok = resp.status < 500
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            self.counts.ok += 1
        else:
            self.counts.failed += 1
