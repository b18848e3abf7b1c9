"""What telemetry costs the client sidecar, in instructions per request: steady on a noisy box.

``python -m bench.telemetry_instructions`` runs the sidecar pair of ``bench.telemetry`` (real
collector, nginx behind the server sidecar) with the client sidecar under valgrind's callgrind,
which counts the instructions it executes whatever else the machine does. For each variant
(telemetry off, default settings) it sends ``--base`` requests in one run and ``--base +
--requests`` in another over 4 keep-alive connections, and takes the difference of the two
totals over ``--requests``: start-up and shutdown cancel out. Requests go at the pace valgrind
allows (~100/s), so costs paid per second rather than per request (the metrics export, the
exporter thread waking up) weigh more here than at the thousands per second of
``bench.telemetry``: the ratio is an upper bound of the per-request cost.
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from bench.glassmesh import client_config, server_config
from bench.nginx import start_nginx
from bench.prereqs import PrereqError, ensure_apt_tools, make_certs
from bench.procs import ProcError, ProcessGroup, free_ports, wait_http_ok
from bench.telemetry import VARIANTS, start_receiver
from bench.wrk import HOST

READY_TIMEOUT_S = 600.0  # a sidecar under valgrind starts ~50x slower
EXIT_TIMEOUT_S = 120.0
_TOTAL = re.compile(r"Collected : (\d+)")


def _start(group: ProcessGroup, directory: Path, name: str, config: Any, out: Path | None) -> Any:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    argv = [sys.executable, "-m", "controlplane.cli", "sidecar", "--config", str(path)]
    if out is not None:
        argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv]
    return group.start(name, argv)


def _send(port: int, requests: int) -> None:
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=120) for _ in range(4)]
    for number in range(requests):
        conn = connections[number % 4]
        conn.request("GET", "/", headers={"Host": HOST})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise ProcError(f"request {number} answered {response.status}")
    for conn in connections:
        conn.close()


def instructions(variant: str, requests: int, directory: Path, tools: dict[str, str]) -> int:
    """Instructions the client sidecar executed over its life while carrying ``requests``."""
    settings = VARIANTS[variant]
    out = directory / f"callgrind-{variant}-{requests}.out"
    with ProcessGroup(directory) as group:
        [nginx_port] = free_ports(1)
        start_nginx(group, tools["nginx"], directory, nginx_port)
        _, endpoint = start_receiver(group, "collector", directory)
        if settings.get("enabled", True):
            settings = {**settings, "otlp_endpoint": endpoint}
        ports = free_ports(6)
        client_ports, server_ports = (ports[0], ports[1], ports[2]), (ports[3], ports[4], ports[5])
        server = server_config(directory, server_ports, nginx_port) | {"telemetry": settings}
        client = client_config(directory, client_ports, server_inbound=server_ports[1])
        client["telemetry"] = settings
        procs = [
            _start(group, directory, "server", server, None),
            _start(group, directory, "client", client, out),
        ]
        for admin in (client_ports[2], server_ports[2]):
            wait_http_ok(procs, f"http://127.0.0.1:{admin}/ready", READY_TIMEOUT_S)
        _send(client_ports[0], requests)
        time.sleep(2.5)  # an exporter cycle, so the last requests' telemetry is done too
        client_proc = procs[1].popen
        client_proc.terminate()
        client_proc.wait(timeout=EXIT_TIMEOUT_S)  # callgrind writes its totals at exit
        group.stop(procs)
    return _total(out)


def _total(out: Path) -> int:
    annotate = shutil.which("callgrind_annotate")
    if annotate is None:
        raise PrereqError("callgrind_annotate not found (Debian package valgrind)")
    text = subprocess.run([annotate, str(out)], capture_output=True, text=True, check=False).stdout
    found = re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text)
    if found is None:
        raise ProcError(f"no totals in {out}")
    return int(found.group(1).replace(",", ""))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.telemetry_instructions", description=__doc__)
    p.add_argument("--base", type=int, default=500, help="requests of the shorter run (500)")
    p.add_argument("--requests", type=int, default=2000, help="requests more in the longer run")
    args = p.parse_args(argv)
    console = Console(width=120)
    if shutil.which("valgrind") is None:
        console.print("[red]failed:[/] valgrind not found (apt-get install valgrind)")
        return 1
    directory = Path(tempfile.mkdtemp(prefix="glassmesh-bench-instructions-"))
    per_request: dict[str, float] = {}
    try:
        tools = ensure_apt_tools(console)
        make_certs(directory)
        for variant in ("off", "default"):
            short = instructions(variant, args.base, directory, tools)
            long = instructions(variant, args.base + args.requests, directory, tools)
            per_request[variant] = (long - short) / args.requests
            console.print(f"{variant:8} {per_request[variant]:10,.0f} instructions per request")
    except (PrereqError, ProcError, subprocess.TimeoutExpired) as exc:
        console.print(f"[red]failed:[/] {exc}")
        return 1
    ratio = per_request["default"] / per_request["off"]
    console.print(f"default / off: {ratio:.3f}x instructions per request (client sidecar)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
