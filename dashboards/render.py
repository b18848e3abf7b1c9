"""Rendering every dashboard to Grafana's JSON model, one file per dashboard, byte-stable (sorted
keys, two-space indent, final newline) so the committed copies in deploy/grafana/dashboards can
be compared with the code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import bottlenecks, collector, controlplane, mesh, service, servicegraph, workload

BUILDERS: dict[str, Callable[[], Dashboard]] = {
    "mesh-overview.json": mesh.build,
    "service.json": service.build,
    "workload.json": workload.build,
    "service-graph.json": servicegraph.build,
    "bottlenecks.json": bottlenecks.build,
    "control-plane.json": controlplane.build,
    "collector.json": collector.build,
}


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    encoder = JSONEncoder(sort_keys=True, indent=2)
    return {name: encoder.encode(build().build()) + "\n" for name, build in BUILDERS.items()}


def write(out: Path) -> list[Path]:
    """Writes every dashboard under ``out`` (created if missing); the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = out / name
        path.write_text(text)
        written.append(path)
    return written


def drifted(out: Path) -> list[str]:
    """Names of the dashboards whose file under ``out`` is missing or differs from the code."""
    stale = []
    for name, text in render().items():
        path = out / name
        if not path.is_file() or path.read_text() != text:
            stale.append(name)
    return stale
