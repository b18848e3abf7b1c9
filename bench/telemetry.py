"""What telemetry costs the sidecar pair: off, default (metrics, access logs, 1% sampling) and
100% sampling, in one run, as ratios of throughput and CPU per request against "off".

``python -m bench.telemetry`` (``make bench``). The pair of ``bench.sidecar`` (client sidecar ->
mTLS -> server sidecar -> nginx 1 KiB) exports to the real collector (``glassmesh collector``),
or with ``--receiver discard`` to an endpoint that accepts and drops OTLP. nginx and the two
sidecars are pinned to core 0; wrk and the receiver to core 1. Variants are interleaved within
each round; medians over rounds are reported. Access logs go to each sidecar's log file (stdout
only, the default); ``--otlp-logs`` adds a variant that also sends them as OTLP log records.
``--exporter`` instead times the exporter thread's work alone, in this process (default modes,
1% sampled, no OTLP endpoint): µs of CPU per exchange, best of 5 cycles of 20,000 exchanges.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.collector import collector_config
from bench.glassmesh import READY_TIMEOUT_S, client_config, server_config, start_sidecar
from bench.nginx import start_nginx
from bench.prereqs import PrereqError, ensure_apt_tools, make_certs
from bench.procs import (
    LOADGEN_CORE,
    ROOT,
    Proc,
    ProcError,
    ProcessGroup,
    free_ports,
    wait_http_ok,
    wait_port,
)
from bench.wrk import LoadError, run_wrk

OUT = ROOT / "bench" / "out" / "telemetry.json"
VARIANTS: dict[str, dict[str, Any]] = {
    "off": {"enabled": False},
    "default": {"sampling_percent": 1.0, "access_log": "all"},
    "sampled_100": {"sampling_percent": 100.0, "access_log": "all"},
}
OTLP_LOGS = {"otlp_logs": {"sampling_percent": 1.0, "access_log": "all", "access_log_otlp": True}}
TARGETS = {"default": 0.9, "sampled_100": 0.6}
DISCARD = (
    "import sys\nfrom aiohttp import web\n"
    "async def ok(request):\n    await request.read()\n    return web.Response()\n"
    "app = web.Application(client_max_size=64 << 20)\n"
    "app.router.add_post('/v1/{signal}', ok)\n"
    "web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=None, access_log=None)\n"
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # clock ticks (USER_HZ = 100)


def start_receiver(group: ProcessGroup, kind: str, directory: Path) -> tuple[Proc, str]:
    """The OTLP/HTTP endpoint the sidecars export to, on the load generator's core."""
    if kind == "collector":
        data = directory / "collector-data"
        config, ports = collector_config(data)
        argv = [sys.executable, "-m", "controlplane.cli", "collector",
                "--data-dir", str(data), "--config", str(config)]  # fmt: skip
        port = ports["http"]
    else:
        [port] = free_ports(1)
        argv = [sys.executable, "-c", DISCARD, str(port)]
    proc = group.start(f"receiver-{kind}", argv, core=LOADGEN_CORE)
    wait_port(proc, port)
    return proc, f"http://127.0.0.1:{port}"


def measure(
    group: ProcessGroup, directory: Path, settings: dict[str, Any], args: argparse.Namespace
) -> dict[str, float]:
    """Start the pair with ``settings`` as its telemetry section, warm up, run wrk; stop it."""
    ports = free_ports(6)
    client_ports, server_ports = (ports[0], ports[1], ports[2]), (ports[3], ports[4], ports[5])
    server = server_config(directory, server_ports, args.nginx_port) | {"telemetry": settings}
    client = client_config(directory, client_ports, server_inbound=server_ports[1])
    client["telemetry"] = settings
    procs = [
        start_sidecar(group, "glassmesh-server", server, directory),
        start_sidecar(group, "glassmesh-client", client, directory),
    ]
    try:
        for admin in (client_ports[2], server_ports[2]):
            wait_http_ok(procs, f"http://127.0.0.1:{admin}/ready", READY_TIMEOUT_S)
        url = f"http://127.0.0.1:{client_ports[0]}/"
        run_wrk(args.wrk, url, args.connections, args.warmup)
        before = sum(cpu_seconds(p.pid) for p in procs)
        result = run_wrk(args.wrk, url, args.connections, args.duration)
        cpu = sum(cpu_seconds(p.pid) for p in procs) - before
        if result.errors:
            raise LoadError(f"{result.errors} errors under load")
        return {"rps": result.rps, "cpu_us_per_request": cpu / max(result.requests, 1) * 1e6}
    finally:
        group.stop(procs)


def run(args: argparse.Namespace, directory: Path, console: Console) -> dict[str, Any]:
    tools = ensure_apt_tools(console)
    args.wrk = tools["wrk"]
    make_certs(directory)
    variants = VARIANTS | (OTLP_LOGS if args.otlp_logs else {})
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    with ProcessGroup(directory) as group:
        [args.nginx_port] = free_ports(1)
        start_nginx(group, tools["nginx"], directory, args.nginx_port)
        _, endpoint = start_receiver(group, args.receiver, directory)
        for number in range(1, args.rounds + 1):
            for name, variant in variants.items():
                settings = (
                    {**variant, "otlp_endpoint": endpoint}
                    if variant.get("enabled", True)
                    else variant
                )
                found = measure(group, directory, settings, args)
                console.print(f"round {number} {name:12} {found['rps']:9,.0f} rps "
                              f"{found['cpu_us_per_request']:6.1f} µs CPU/request")  # fmt: skip
                rounds[name].append(found)
    return summarize(rounds, args)


def summarize(
    rounds: dict[str, list[dict[str, float]]], args: argparse.Namespace
) -> dict[str, Any]:
    median = {
        name: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        for name, runs in rounds.items()
    }
    off = median["off"]
    ratios = {
        name: {
            "throughput": median[name]["rps"] / off["rps"],
            "cpu_per_request": median[name]["cpu_us_per_request"] / off["cpu_us_per_request"],
            "target_throughput": TARGETS.get(name, 0.0),
        }
        for name in median
        if name != "off"
    }
    return {"receiver": args.receiver, "rounds": rounds, "median": median, "ratios": ratios,
            "duration_s": args.duration, "connections": args.connections}  # fmt: skip


def exporter_cost(exchanges: int = 20_000, cycles: int = 5) -> float:
    """CPU µs per exchange of one exporter cycle (labels, metrics, access log lines), best of
    ``cycles``; the lines are discarded."""
    from random import random

    from controlplane.api.sidecar import Address, SidecarConfig, TlsConfig
    from controlplane.api.telemetry import TelemetryConfig
    from sidecar.http1.codec import DecoderLimits
    from sidecar.http1.head import RequestHead
    from sidecar.telemetry.hooks import Exchange
    from sidecar.telemetry.service import Telemetry
    from sidecar.transport.pool import Cluster, ClusterSettings, Endpoint

    config = SidecarConfig(
        service="cart",
        namespace="shop",
        identity="spiffe://cluster.local/ns/shop/sa/cart",
        app=Address(port=8080),
        tls=TlsConfig(cert="c", key="k", ca_bundle="ca"),
        labels={"app": "cart"},
        telemetry=TelemetryConfig(),
    )
    telemetry = Telemetry(config, write=lambda _: None)
    endpoint = Endpoint("10.0.0.7", 9080)
    name = "outbound|9080||reviews.shop.svc.cluster.local"
    cluster = Cluster(ClusterSettings(name, None, None, 1.0, 4, DecoderLimits()), [endpoint])
    names = [b"host", b"user-agent", b"accept", b"x-request-id"]
    values = [b"reviews:9080", b"wrk/4.2", b"*/*", b"4a4c6a2e-1f0b-4f5e-9a5e-3a7c1d2b0e9f"]
    best = float("inf")
    for _ in range(cycles):
        for number in range(exchanges):
            head = RequestHead(b"GET", b"/reviews/1", True, list(names), list(values))
            ex = Exchange(telemetry.outbound, head, number * 1e-4, b"/reviews/1", b"reviews:9080")
            ex.cluster, ex.endpoint, ex.status, ex.tx = cluster, endpoint, 200, 1100
            ex.end, ex.sampled = ex.start + 0.002, random() < 0.01
            telemetry.sink.put(ex)
        start = time.process_time()
        telemetry.exporter.cycle()
        best = min(best, time.process_time() - start)
    return best / exchanges * 1e6


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.telemetry", description=__doc__)
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per run (10)")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds (2)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    p.add_argument("--rounds", type=int, default=5, help="rounds, variants interleaved (5)")
    p.add_argument("--otlp-logs", action="store_true", help="add a variant with access_log_otlp")
    p.add_argument("--exporter", action="store_true", help="time the exporter's work alone")
    p.add_argument("--receiver", choices=("collector", "discard"), default="collector")
    p.add_argument("--out", type=Path, default=OUT)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(width=120)
    if args.exporter:
        console.print(f"exporter: {exporter_cost():.2f} µs CPU per exchange (best of 5 cycles)")
        return 0
    directory = Path(tempfile.mkdtemp(prefix="glassmesh-bench-telemetry-"))
    try:
        report = run(args, directory, console)
    except (PrereqError, ProcError, LoadError) as exc:
        console.print(f"[red]failed:[/] {exc}")
        return 1
    receiver = "the glassmesh collector" if args.receiver == "collector" else "a discard endpoint"
    console.print(f"OTLP receiver: {receiver}; medians of {args.rounds} rounds")
    off = report["median"]["off"]
    console.print(
        f"off          {off['rps']:9,.0f} rps {off['cpu_us_per_request']:6.1f} µs CPU/req"
    )
    met = True
    for name, ratio in report["ratios"].items():
        ok = ratio["throughput"] >= ratio["target_throughput"]
        met = met and ok
        target = (f" (target >= {ratio['target_throughput']}x: {'met' if ok else 'NOT met'})"
                  if name in TARGETS else "")  # fmt: skip
        found = report["median"][name]
        console.print(
            f"{name:12} {found['rps']:9,.0f} rps {found['cpu_us_per_request']:6.1f} µs CPU/req  "
            f"{ratio['throughput']:.2f}x off{target}, CPU/request {ratio['cpu_per_request']:.2f}x"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
