"""Measuring one running target: a smoke request, idle RSS, wrk throughput, open-loop latency, RSS.

Load generators run on the load-generator core, one after the other, never beside each other.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from bench.nginx import BODY_BYTES
from bench.procs import LOADGEN_CORE, ROOT, Proc, http_get, pinned, rss_mb
from bench.report import TargetResult, growth_pct, max_or_none
from bench.wrk import HOST, LoadError, parse_hey, run_hey, run_wrk

LOADGEN_DRAIN_S = 5.0


@dataclass(frozen=True)
class RunSettings:
    """How long, how hard and with which tools to measure."""

    duration_s: float
    warmup_s: float
    rate: float
    connections: int
    rss_requests: int
    wrk: str
    hey: str


def smoke(url: str) -> None:
    """One request through the target: it must answer 200 with nginx's 1 KiB body."""
    answer = http_get(url, host=HOST, timeout_s=5.0)
    if answer is None:
        raise LoadError(f"smoke request to {url}: no answer")
    status, body = answer
    if status != 200 or len(body) != BODY_BYTES:
        raise LoadError(f"smoke request to {url}: {status} with {len(body)} bytes: {body[:200]!r}")


def rss_all(procs: dict[str, Proc]) -> dict[str, float | None]:
    """VmRSS in MB of every process, by role."""
    return {role: rss_mb(proc.pid) for role, proc in procs.items()}


def check_alive(procs: dict[str, Proc]) -> None:
    """Raise ProcError (with its log) if any process of the target has died."""
    for proc in procs.values():
        proc.check_alive()


def open_loop(port: int, settings: RunSettings) -> dict[str, Any]:
    """Run ``bench.loadgen`` in its own process on the load-generator core; return its report."""
    argv = [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--host-header", HOST]
    argv += ["--rate", str(settings.rate), "--connections", str(settings.connections)]
    argv += ["--duration", str(settings.duration_s), "--warmup", str(settings.warmup_s)]
    timeout_s = settings.warmup_s + settings.duration_s + LOADGEN_DRAIN_S + 30
    try:
        out = subprocess.run(
            pinned(argv, LOADGEN_CORE),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LoadError(f"open-loop generator timed out after {timeout_s:.0f} s") from exc
    if out.returncode != 0:
        raise LoadError(f"open-loop generator failed ({out.returncode}): {out.stderr.strip()}")
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def throughput(result: TargetResult, url: str, settings: RunSettings) -> None:
    """A short wrk warm-up, then the measured wrk run; fills ``rps`` and the wrk detail."""
    run_wrk(settings.wrk, url, settings.connections, settings.warmup_s)
    wrk = run_wrk(settings.wrk, url, settings.connections, settings.duration_s)
    result.rps = wrk.rps
    result.wrk = {
        "requests": wrk.requests,
        "duration_s": wrk.duration_s,
        "latency_ms": wrk.latency_ms,
        "non_2xx": wrk.non_2xx,
        "socket_errors": wrk.socket_errors,
    }
    if wrk.errors:
        result.flag(
            f"wrk: {wrk.requests} requests at {wrk.rps:.0f} rps with {wrk.non_2xx} non-2xx "
            f"responses and socket errors {wrk.socket_errors}"
        )


def latency(result: TargetResult, port: int, settings: RunSettings, console: Console) -> None:
    """The open-loop run at the fixed rate; fills p50/p90/p99 and the open-loop detail.

    Failed or non-2xx requests flag the target; a rate short of the target only warns.
    """
    report = open_loop(port, settings)
    result.open_loop = report
    summary = report["latency"]
    result.p50_ms, result.p90_ms, result.p99_ms = (
        summary.get("p50_ms"),
        summary.get("p90_ms"),
        summary.get("p99_ms"),
    )
    if report["errors"] or report["non_2xx"] or report["unfinished"]:
        result.flag(
            f"open loop: {report['errors']} failed, {report['non_2xx']} non-2xx and "
            f"{report['unfinished']} unfinished requests"
        )
    if not report["valid"]:
        console.print(
            f"[yellow]{result.name}: open loop achieved {report['achieved_rps']:.0f} of "
            f"{settings.rate:.0f} rps with {report['errors']} errors; its latency is not valid[/]"
        )


def measure(
    result: TargetResult, procs: dict[str, Proc], port: int, settings: RunSettings, console: Console
) -> None:
    """Measure a started target into ``result``; raises LoadError or ProcError on failure."""
    url = f"http://127.0.0.1:{port}/"
    smoke(url)
    idle = rss_all(procs)
    result.processes = {
        role: {"pid": proc.pid, "rss_idle_mb": idle[role]} for role, proc in procs.items()
    }
    result.rss_idle_mb = max_or_none(list(idle.values()))
    console.print(f"  {result.name}: throughput (wrk, {settings.duration_s:g} s)")
    throughput(result, url, settings)
    check_alive(procs)
    console.print(f"  {result.name}: latency (open loop, {settings.rate:g} rps)")
    latency(result, port, settings, console)
    check_alive(procs)
    after = rss_all(procs)
    for role, rss in after.items():
        result.processes[role]["rss_after_mb"] = rss
    result.rss_mb = max_or_none(list(after.values()))


def rss_soak(
    result: TargetResult, procs: dict[str, Proc], port: int, settings: RunSettings
) -> None:
    """Send ``settings.rss_requests`` requests with hey and record RSS growth over them."""
    before = rss_all(procs)
    text = run_hey(
        settings.hey, f"http://127.0.0.1:{port}/", settings.connections, settings.rss_requests
    )
    check_alive(procs)
    after = rss_all(procs)
    statuses, errors = parse_hey(text)
    before_mb, after_mb = max_or_none(list(before.values())), max_or_none(list(after.values()))
    result.rss_soak = {
        "requests": settings.rss_requests,
        "responses": sum(statuses.values()),  # hey sends n // c per connection
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": errors,
        "before_mb": before_mb,
        "after_mb": after_mb,
        "growth_pct": growth_pct(before_mb, after_mb),
        "processes": {role: {"before_mb": before[role], "after_mb": after[role]} for role in procs},
    }
    bad = sum(n for status, n in statuses.items() if not 200 <= status < 300)
    if errors or bad:
        result.flag(f"RSS soak: {errors} failed and {bad} non-2xx requests")
