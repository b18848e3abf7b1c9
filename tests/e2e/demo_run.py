"""``glassmesh demo`` as a user runs it, in a child process the tests can watch: its output as it
comes, the processes it started (its children, seen in /proc) and the collector it prints."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
UI_LINE = re.compile(r"^UI\s+(http://127\.0\.0\.1:\d+)/")


def glassmesh(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one ``glassmesh`` command to its end (at most 60 s)."""
    return subprocess.run(
        [sys.executable, "-m", "controlplane.cli", *argv], capture_output=True, text=True,
        timeout=60, check=False, cwd=ROOT, env={**os.environ, "COLUMNS": "200", **(env or {})},
    )  # fmt: skip


def children_of(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` right now."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


class Demo:
    """A running ``glassmesh demo``; ``lines`` fill as it prints."""

    def __init__(self, *argv: str) -> None:
        env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controlplane.cli", "demo", *argv], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.children: set[int] = set()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, check: Callable[[], bool], what: str, within_s: float = 60.0) -> None:
        """Poll ``check`` (and note the demo's children) until true; fail naming ``what``."""
        deadline = time.monotonic() + within_s
        while True:
            self.children |= children_of(self.proc.pid)
            if check():
                return
            assert self.proc.poll() is None, f"the demo exited while waiting for {what}:\n" + (
                self.output
            )
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{self.output}"
            time.sleep(0.5)

    def collector(self) -> str:
        """The collector's query URL, once the demo has printed it."""
        found: list[str] = []

        def printed() -> bool:
            found.extend(m[1] for line in self.lines if (m := UI_LINE.match(line)))
            return bool(found)

        self.wait_for(printed, "the URLs")
        return found[0]

    def finish(self, timeout_s: float = 60.0) -> int:
        """Wait for the demo to exit; returns its exit code."""
        code = self.proc.wait(timeout_s)
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; returns its exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.finish()

    def kill(self) -> None:
        """Clean-up after a failed test: the demo and everything it started."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.finish()
        for pid in self.children:
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
