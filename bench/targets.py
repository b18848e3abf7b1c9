"""The targets: direct (nginx itself), the Envoy pair, the glassmesh pair, and the glassmesh pair
with policies (100 routes, a TrafficPolicy, a 20-rule AuthorizationPolicy, retries).

A pair is started just before it is measured and stopped right after, so only one proxy pair
shares the proxy core with nginx at any time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from bench.envoy import start_envoy_pair
from bench.glassmesh import start_glassmesh_pair
from bench.measure import RunSettings, measure, rss_soak
from bench.procs import Proc, ProcError, ProcessGroup, free_ports
from bench.report import TargetResult
from bench.wrk import LoadError


@dataclass(frozen=True)
class Stage:
    """What every target shares: the process group, work dir, nginx and the Envoy binary."""

    group: ProcessGroup
    directory: Path
    nginx: Proc
    nginx_port: int
    envoy: str | None


def start(name: str, stage: Stage) -> tuple[dict[str, Proc], int]:
    """Start target ``name``; return its processes by role and the port to load."""
    if name == "direct":
        return {"nginx": stage.nginx}, stage.nginx_port
    if name == "envoy":
        if stage.envoy is None:
            raise ProcError("no Envoy binary")
        ports = free_ports(4)
        (client, server), port = start_envoy_pair(
            stage.group, stage.envoy, stage.directory, stage.nginx_port, ports
        )
        return {"client": client, "server": server}, port
    if name in ("glassmesh", "policies"):
        (client, server), port = start_glassmesh_pair(
            stage.group,
            stage.directory,
            stage.nginx_port,
            free_ports(6),
            policies=name == "policies",
        )
        return {"client": client, "server": server}, port
    raise ValueError(f"unknown target {name!r}")


def run_target(name: str, stage: Stage, settings: RunSettings, console: Console) -> TargetResult:
    """Start, measure and stop one target; a failure is recorded in the result, not raised."""
    result = TargetResult(name)
    console.print(f"[bold]{name}[/]: starting")
    procs: dict[str, Proc] = {}
    try:
        procs, port = start(name, stage)
        measure(result, procs, port, settings, console)
        if settings.rss_requests and name == "glassmesh":
            console.print(f"  {name}: RSS soak ({settings.rss_requests:,} requests with hey)")
            rss_soak(result, procs, port, settings)
    except (ProcError, LoadError, OSError, ValueError) as exc:
        result.fail(str(exc))
        console.print(f"[red]{name} failed:[/] {exc}")
    finally:
        if name != "direct":
            stage.group.stop(list(procs.values()))
    return result
