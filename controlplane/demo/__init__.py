"""``glassmesh demo``: all of glassmesh on 127.0.0.1, with traffic, until Ctrl-C or ``--duration``.

It starts the collector and the control plane as child processes, applies 100% trace sampling
through the control plane's resources API, starts the shop (deploy/demo: frontend -> catalog,
cart, checkout -> inventory, payments), each app behind its own sidecar with mTLS, and a load
generator at a steady rate; then prints the URLs and a live view of the collector's graph API.
``--scenario`` applies a Fault (see scenarios). Every child runs in a process group of its own,
stopped with SIGTERM then SIGKILL when the demo ends (see procs).
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from controlplane.demo.live import DemoPorts, show_urls, watch
from controlplane.demo.loadgen import LoadGenerator
from controlplane.demo.procs import Processes, ProcessFailed
from controlplane.demo.scenarios import SCENARIOS, ApplyFailed
from controlplane.demo.startup import start_all

__all__ = ["SCENARIOS", "run_demo"]


async def _demo(work: Path, console: Console, options: DemoOptions) -> int:
    ports = DemoPorts.pick(defaults=not options.free_ports)
    duration_s, scenario, rate = options.duration_s, options.scenario, options.rate
    async with Processes(work / "logs") as procs:
        try:
            frontend = await start_all(procs, work, ports, scenario, console)
        except (ProcessFailed, ApplyFailed, TimeoutError) as exc:
            console.print(f"[red]glassmesh demo: could not start: {exc or 'timed out'}[/]")
            if "address already in use" in str(exc):
                console.print(
                    "a port was taken while the demo started: run it again, or with --free-ports"
                )
            return 1
        show_urls(console, ports, frontend, work)
        load = LoadGenerator(frontend, rate)
        sender = asyncio.create_task(load.run())
        try:
            await watch(console, ports, load, procs, duration_s)
        except ProcessFailed as exc:
            console.print(f"[red]glassmesh demo: {exc}[/]")
            return 1
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            count = len(procs.pids)
            await procs.stop_all()
            console.print(f"\nstopped {count} processes; {load.counts.sent} requests sent")
    return 0


async def _main(work: Path, console: Console, options: DemoOptions) -> int:
    """``_demo``, cancelled (cleanly: its children are stopped) by the first SIGINT or SIGTERM."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)  # a second Ctrl-C must not cut the clean-up
            loop.add_signal_handler(signum, lambda: None)
        task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    try:
        return await _demo(work, console, options)
    except asyncio.CancelledError:
        console.print("glassmesh demo: stopped")
        return 0


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float | None = None  # None: until a signal
    scenario: str | None = None
    rate: float = 10.0
    free_ports: bool = False  # never the default ports: beside another demo, or in tests


def run_demo(
    duration_s: float | None = None,
    scenario: str | None = None,
    rate: float = 10.0,
    free_ports: bool = False,
) -> int:
    """Run the demo until ``duration_s`` passes (forever when None) or a signal; returns the exit
    code: 0, 1 when a part failed to start or died, 2 for a bad option."""
    console = Console()
    if scenario is not None and scenario not in SCENARIOS:
        console.print(
            f"glassmesh demo: --scenario: unknown {scenario!r}; one of {sorted(SCENARIOS)}"
        )
        return 2
    if duration_s is not None and not duration_s > 0:
        console.print(
            f"glassmesh demo: --duration: {duration_s:g} is not a positive number of seconds"
        )
        return 2
    if not 0 < rate <= 1000:
        console.print(f"glassmesh demo: --rate: {rate:g} is not in (0, 1000] requests per second")
        return 2
    with tempfile.TemporaryDirectory(prefix="glassmesh-demo-") as tmp:
        work = Path(tmp)
        (work / "logs").mkdir()
        options = DemoOptions(duration_s, scenario, rate, free_ports)
        return asyncio.run(_main(work, console, options))
