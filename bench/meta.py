"""The report's ``meta`` block: when, on what hardware, with which pinning, tools and settings."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
from pathlib import Path
from typing import Any

from bench.nginx import BODY_BYTES
from bench.prereqs import version_of
from bench.procs import LOADGEN_CORE, PROXY_CORE, can_pin


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def pinning() -> str:
    """The core layout, as reported in the table caption and the JSON."""
    if can_pin():
        return (
            f"nginx and proxies on core {PROXY_CORE}, "
            f"load generators (wrk, hey, open loop) on core {LOADGEN_CORE} (taskset)"
        )
    return "none (taskset missing or fewer than 2 usable cores): numbers are noisier"


def tool_versions(tools: dict[str, str], envoy: str | None) -> dict[str, str]:
    """Versions of every tool involved, as each one reports it."""
    versions = {
        "python": platform.python_version(),
        "nginx": version_of([tools["nginx"], "-v"]),
        "wrk": version_of([tools["wrk"], "--version"]),
    }
    if envoy is not None:
        versions["envoy"] = version_of([envoy, "--version"])
    return versions


def run_meta(args: argparse.Namespace, versions: dict[str, str]) -> dict[str, Any]:
    """Everything needed to compare this run with another one."""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": sorted(os.sched_getaffinity(0)),
        "pinning": pinning(),
        "targets": args.only,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rate_rps": args.rate,
        "connections": args.connections,
        "payload_bytes": BODY_BYTES,
        "protocol": "HTTP/1.1 keep-alive; mTLS between the pair (EC P-256, peer URI SAN checked)",
        "throughput": f"wrk -t1 -c{args.connections} -d{args.duration:g}s after a warm-up run",
        "latency": (
            "open loop (bench.loadgen): fixed-rate plan, latency from intended send time, "
            "HdrHistogram, percentiles of each measured run; the median over the rounds"
        ),
        "rss": "VmRSS in MB (10^6 bytes); a pair reports the larger of its two processes",
        "runs": args.rounds,
        "rounds": (
            f"{args.rounds} rounds, targets interleaved within each; headline numbers are the "
            "median over the rounds measured cleanly, RSS the largest; every round in 'rounds'"
        ),
        "versions": versions,
    }
