"""The demo's children never outlive it: a child ignoring SIGTERM is killed after the bounded
wait, with the children it started itself; and a child goes when its parent is killed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from controlplane.demo.procs import Processes
from tests.e2e.demo_run import alive, children_of

# Starts a grandchild, then ignores SIGTERM: only SIGKILL to the group stops both.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("ready", flush=True)
time.sleep(60)
"""
PARENT = """
import subprocess, sys, time
from controlplane.demo.procs import die_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                         preexec_fn=die_with_parent)
print(child.pid, flush=True)
time.sleep(60)
"""


def wait_gone(pids: set[int], within_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + within_s
    while (left := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


async def test_stop_all_kills_a_group_that_ignores_sigterm(tmp_path: Path) -> None:
    procs = Processes(tmp_path)
    await procs.start("stubborn", [sys.executable, "-c", STUBBORN], tmp_path)
    pid = procs.pids["stubborn"]
    deadline = time.monotonic() + 10
    while "ready" not in (tmp_path / "stubborn.log").read_text():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    grandchildren = children_of(pid)
    assert len(grandchildren) == 1
    codes = await procs.stop_all(timeout_s=0.5)
    assert codes == {"stubborn": -signal.SIGKILL}
    assert wait_gone(grandchildren) == []
    assert await procs.stop_all() == {}  # idempotent


def test_a_child_goes_when_its_parent_is_killed() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[4])}
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, env=env)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.stdout.close()
    assert alive(child)
    parent.kill()
    parent.wait()
    assert wait_gone({child}) == []
