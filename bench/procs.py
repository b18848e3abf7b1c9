"""Processes the harness starts: free ports, core pinning, readiness waits, RSS, and teardown.

Every process is started in its own session and owned by a ``ProcessGroup``; leaving the group's
``with`` block (normally, on error or on Ctrl-C) terminates each one, then kills any that linger.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]
PROXY_CORE = 0
LOADGEN_CORE = 1
# Never send our 127.0.0.1 requests through an http_proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ProcError(RuntimeError):
    """A process we started exited early or never became ready."""


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct ports that were free on 127.0.0.1 a moment ago."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def can_pin() -> bool:
    """True when taskset exists and cores 0 and 1 are both ours to use."""
    return shutil.which("taskset") is not None and {0, 1} <= os.sched_getaffinity(0)


def pinned(argv: list[str], core: int | None) -> list[str]:
    """Prefix ``argv`` with ``taskset -c core`` if pinning is possible (taskset execs: same pid)."""
    if core is None or not can_pin():
        return argv
    return ["taskset", "-c", str(core), *argv]


def rss_mb(pid: int) -> float | None:
    """VmRSS of ``pid`` in MB (10^6 bytes), or None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    return None


@dataclass
class Proc:
    """A started process and the file its stdout and stderr go to."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def check_alive(self) -> None:
        """Raise ProcError, with the end of the process's log, if it has exited."""
        code = self.popen.poll()
        if code is not None:
            raise ProcError(f"{self.name} exited with code {code}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of the process's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class ProcessGroup:
    """Owns processes; ``stop_all`` (also run on leaving the ``with`` block) ends every one."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._procs: list[Proc] = []

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()

    def start(self, name: str, argv: list[str], core: int | None = None) -> Proc:
        """Start ``argv`` pinned to ``core``, logging to ``<log_dir>/<name>.log``."""
        log_path = self._log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                pinned(argv, core),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log_path)
        self._procs.append(proc)
        return proc

    def stop(self, procs: list[Proc]) -> None:
        """Terminate ``procs`` (SIGTERM, then SIGKILL after 5 s) and forget them."""
        for proc in procs:
            _signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            if proc.popen.poll() is None:
                _signal(proc, signal.SIGKILL)
                proc.popen.wait(timeout=5.0)
            if proc in self._procs:
                self._procs.remove(proc)

    def stop_all(self) -> None:
        """Terminate every process still owned, newest first."""
        self.stop(list(reversed(self._procs)))


def _signal(proc: Proc, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group of ``proc`` (its own session), if it still runs."""
    if proc.popen.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def wait_port(proc: Proc, port: int, timeout_s: float = 20.0) -> None:
    """Wait until 127.0.0.1:``port`` accepts connections; raise ProcError on exit or timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        proc.check_alive()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise ProcError(f"{proc.name}: port {port} not open after {timeout_s:.0f} s\n{proc.log_tail()}")


def http_get(url: str, host: str | None = None, timeout_s: float = 1.0) -> tuple[int, bytes] | None:
    """Status and body of ``GET url`` (4xx/5xx included), or None when nothing answered."""
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with _OPENER.open(request, timeout=timeout_s) as resp:
            status: int = resp.status
            return status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, urllib.error.URLError):
        return None


def wait_http_ok(procs: list[Proc], url: str, timeout_s: float = 20.0) -> None:
    """Poll ``url`` until it answers 200; raise ProcError if a process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for proc in procs:
            proc.check_alive()
        answer = http_get(url)
        if answer is not None and answer[0] == 200:
            return
        time.sleep(0.1)
    tails = "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in procs)
    raise ProcError(f"{url} not ready after {timeout_s:.0f} s\n{tails}")
