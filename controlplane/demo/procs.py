"""Child processes of the demo: start each in a process group of its own, wait until it answers,
stop every group with SIGTERM, then SIGKILL what is left after a bounded wait.

A process group per child means a child's own children (a shell, a worker) are stopped with it,
so nothing the demo started outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import random
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import aiohttp

# Looked up before any fork: the child only calls it (nothing there may take a lock).
_PRCTL = ctypes.CDLL(None).prctl if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child before exec: SIGTERM when its parent dies, even by SIGKILL (Linux only)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    Drawn below Linux's ephemeral range (32768-60999), where the kernel does not hand out ports
    to outgoing connections: a port picked there could be taken by any client before the child
    that is told to listen on it starts. Falls back to a kernel-picked port."""
    for _ in range(100):
        port = random.randrange(20000, 32000)
        if _bindable(port):
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        found: int = sock.getsockname()[1]
        return found


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_or_free(preferred: int) -> int:
    """``preferred`` when it can be bound, else a free port."""
    return preferred if _bindable(preferred) else free_port()


class ProcessFailed(Exception):
    """A child exited before it was ready, or while it should have been serving."""


class Processes:
    """A group of child processes that is always cleaned up, in reverse start order."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self._procs: dict[str, asyncio.subprocess.Process] = {}

    async def __aenter__(self) -> Processes:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_all()

    @property
    def pids(self) -> dict[str, int]:
        """Process ids of the children, by name."""
        return {name: proc.pid for name, proc in self._procs.items()}

    async def start(
        self, name: str, argv: list[str], cwd: Path, env: Mapping[str, str] | None = None
    ) -> None:
        """Start a child in ``cwd`` in a new session, its output in ``<logs>/<name>.log``."""
        with (self.logs / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
            self._procs[name] = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, stdout=log, stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL, env=None if env is None else dict(env),
                start_new_session=True, preexec_fn=die_with_parent,
            )  # fmt: skip

    def check(self) -> None:
        """Raise ProcessFailed naming a child that has exited, with the end of its log."""
        for name, proc in self._procs.items():
            if proc.returncode is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-1500:]
                raise ProcessFailed(f"{name} exited with {proc.returncode}:\n{tail}")

    async def stop_all(self, timeout_s: float = 5.0) -> dict[str, int]:
        """SIGTERM every child's group (newest first), wait at most ``timeout_s``, SIGKILL the
        groups still there; returns the exit codes. Idempotent."""
        procs = list(reversed(self._procs.items()))
        self._procs = {}
        for _, proc in procs:
            _signal_group(proc, signal.SIGTERM)
        codes: dict[str, int] = {}
        for name, proc in procs:
            try:
                codes[name] = await asyncio.wait_for(proc.wait(), timeout_s)
            except TimeoutError:
                _signal_group(proc, signal.SIGKILL)
                codes[name] = await proc.wait()
            _signal_group(proc, signal.SIGKILL)  # the child's own children, if any stayed
        return codes


def _signal_group(proc: asyncio.subprocess.Process, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


async def wait_http(url: str, procs: Processes, timeout_s: float = 30.0) -> None:
    """Wait until ``url`` answers 200; raises ProcessFailed or TimeoutError."""
    async with aiohttp.ClientSession() as session, asyncio.timeout(timeout_s):
        while True:
            procs.check()
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
