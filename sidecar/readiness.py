"""Probes the local app and says when it turns ready or not ready (Kubernetes' probe semantics).

An HTTP probe sends ``GET <path>`` on a new connection and succeeds on a 2xx or 3xx status line
within the timeout; without a path, a TCP connect that succeeds within the timeout is enough.
The state flips after ``success_threshold`` successes, or ``failure_threshold`` failures, in a row.
The app starts not ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from controlplane.api.sidecar import Address, ReadinessConfig
from sidecar import tasks

log = logging.getLogger("glassmesh.sidecar.readiness")
MAX_STATUS_LINE = 1024


class ReadinessProbe:
    """Runs the probe every interval until closed; ``on_change(ready)`` is called on each flip."""

    def __init__(
        self,
        config: ReadinessConfig,
        app: Address,
        on_change: Callable[[bool], None],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.app = app
        self.ready = False
        self.probes = 0
        self.failures = 0
        self._on_change = on_change
        self._sleep = sleep
        self._streak = 0  # successes (> 0) or failures (< 0) in a row
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts probing on the running loop (the first probe right away)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stops probing. Idempotent."""
        task, self._task = self._task, None
        await tasks.cancel([task])

    async def _run(self) -> None:
        while True:
            self.record(await self.probe())
            await self._sleep(self.config.interval_s)

    def record(self, ok: bool) -> None:
        """Counts one probe's outcome and flips the state when a threshold is reached."""
        self.probes += 1
        if ok:
            self._streak = max(self._streak, 0) + 1
            flip = not self.ready and self._streak >= self.config.success_threshold
        else:
            self.failures += 1
            self._streak = min(self._streak, 0) - 1
            flip = self.ready and -self._streak >= self.config.failure_threshold
        if flip:
            self.ready = not self.ready
            log.info("app %s", "ready" if self.ready else "not ready")
            self._on_change(self.ready)

    async def probe(self) -> bool:
        """One probe of the app: True if it answered in time (HTTP: with 2xx or 3xx)."""
        try:
            async with asyncio.timeout(self.config.timeout_s):
                return await self._attempt()
        except (OSError, TimeoutError, EOFError, asyncio.LimitOverrunError):
            return False

    async def _attempt(self) -> bool:
        reader, writer = await asyncio.open_connection(self.app.address, self.app.port)
        try:
            if self.config.path is None:
                return True
            host = self.app.address if ":" not in self.app.address else f"[{self.app.address}]"
            writer.write(
                f"GET {self.config.path} HTTP/1.1\r\nHost: {host}:{self.app.port}\r\n"
                "User-Agent: glassmesh-probe\r\nConnection: close\r\n\r\n".encode("ascii")
            )
            line = await reader.readuntil(b"\n")
            return _status_ok(line[:MAX_STATUS_LINE])
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _status_ok(line: bytes) -> bool:
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return False
    return 200 <= int(parts[1]) < 400
