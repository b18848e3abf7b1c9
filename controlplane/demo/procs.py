"""Child processes of the demo: start, wait until they answer, stop with SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path
from types import TracebackType

import aiohttp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ProcessFailed(Exception):
    """A child exited before it was ready."""


class Processes:
    """A group of child processes that is always cleaned up."""

    def __init__(self) -> None:
        self._procs: dict[str, asyncio.subprocess.Process] = {}

    async def __aenter__(self) -> Processes:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_all()

    async def start(self, name: str, argv: list[str], cwd: Path) -> None:
        """Start a child in ``cwd``, its output in ``<name>.log`` there."""
        with (cwd / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
            self._procs[name] = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, stdout=log, stderr=asyncio.subprocess.STDOUT
            )

    def check(self) -> None:
        """Raise ProcessFailed if a child has exited."""
        for name, proc in self._procs.items():
            if proc.returncode is not None:
                raise ProcessFailed(f"{name} exited with {proc.returncode}")

    async def stop_all(self, timeout_s: float = 10.0) -> dict[str, int]:
        """SIGTERM every child, wait (bounded), kill stragglers; returns exit codes."""
        codes: dict[str, int] = {}
        for proc in self._procs.values():
            if proc.returncode is None:
                proc.terminate()
        for name, proc in self._procs.items():
            try:
                codes[name] = await asyncio.wait_for(proc.wait(), timeout_s)
            except TimeoutError:
                proc.kill()
                codes[name] = await proc.wait()
        self._procs.clear()
        return codes


async def wait_http(url: str, procs: Processes, timeout_s: float = 20.0) -> None:
    """Wait until ``url`` answers 200; raises ProcessFailed or TimeoutError."""
    async with aiohttp.ClientSession() as session, asyncio.timeout(timeout_s):
        while True:
            procs.check()
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
