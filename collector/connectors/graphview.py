"""One graph from two sources: span pairs and sidecar metrics, reconciled edge by edge.

Edges are joined on (client name, server name) (naming rule: meshgraph). Each edge reports the
trace-derived count (weighted by sampling), the metric-derived count and their ratio, the trace
coverage: 1.0 means every request the sidecars saw is also in a trace; 0 or a low ratio shows
where context is not propagated or spans are lost. The request count shown is the sidecars' when
they saw the edge (they see every request), else the traces'. Latency comes from the traces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from collector.connectors.graphtally import BUCKETS, FAILED, SERVER_SUM, TOTAL, EdgeKey
from collector.connectors.history import quantile
from collector.connectors.meshgraph import MeshKey

USER = "user"
NONE3: tuple[None, None, None] = (None, None, None)


@dataclass(frozen=True, slots=True)
class EdgeView:
    """One edge of the reconciled graph over a window."""

    source: str
    target: str
    connection_types: tuple[str, ...]
    trace_requests: float
    trace_failed: float
    mesh_requests: float
    mesh_failed: float
    requests: float
    rate: float  # requests per second over the window
    error_rate: float
    coverage: float | None  # trace_requests / mesh_requests; None without sidecar metrics
    avg_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def id(self) -> str:
        """The edge id: ``<source>--<target>``."""
        return f"{self.source}--{self.target}"


@dataclass(frozen=True, slots=True)
class NodeView:
    """A node: a service, or a virtual peer (``user``, a database, an external host)."""

    id: str
    namespace: str
    instrumented: bool
    requests: float  # into this node, over the window
    failed: float
    rate: float
    avg_ms: float | None
    # Percentiles of the server-side latency of every traced request into this node.
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Graph:
    """The reconciled graph of the last ``window_s`` seconds (the span actually covered)."""

    window_s: float
    nodes: list[NodeView] = field(default_factory=list)
    edges: list[EdgeView] = field(default_factory=list)


class GraphSource(Protocol):
    """What the graph API reads; the ServiceGraphConnector is one."""

    slot_s: float  # window resolution; shorter windows are refused
    retention_s: float  # the longest window

    def graph(self, window_s: float, namespace: str | None = None) -> Graph:
        """The graph of the last ``window_s`` seconds, only edges touching ``namespace`` if set.

        Never blocks; raises nothing."""


@dataclass(slots=True)
class _Join:
    types: set[str] = field(default_factory=set)
    traces: list[float] | None = None
    mesh: Sequence[float] = (0.0, 0.0)


def reconcile(
    traces: Mapping[EdgeKey, list[float]],
    mesh: Mapping[MeshKey, Sequence[float]],
    bounds: Sequence[float],
    namespaces: Mapping[str, str],
    window_s: float,
) -> Graph:
    """The graph joining ``traces`` (EdgeTallies rows) and ``mesh`` ([requests, failed]) counts."""
    joined: dict[MeshKey, _Join] = {}
    for (client, server, conn), row in traces.items():
        join = joined.setdefault((client, server), _Join())
        join.types.add(conn)
        join.traces = (
            row if join.traces is None else [a + b for a, b in zip(join.traces, row, strict=True)]
        )
    for key, counts in mesh.items():
        joined.setdefault(key, _Join()).mesh = counts
    per_s = 1.0 / window_s if window_s > 0 else 0.0
    edges = [_edge(key, join, bounds, per_s) for key, join in sorted(joined.items())]
    latency = _node_latency(joined, bounds)
    return Graph(window_s, _nodes(edges, namespaces, per_s, latency), edges)


def _node_latency(
    joined: Mapping[MeshKey, _Join], bounds: Sequence[float]
) -> dict[str, tuple[float | None, ...]]:
    """p50, p95 and p99 (ms) per server node, over the merged histograms of its edges in."""
    merged: dict[str, list[float]] = {}
    for (_, server), join in joined.items():
        if join.traces is not None:
            buckets = join.traces[BUCKETS : BUCKETS + len(bounds) + 1]
            into = merged.setdefault(server, [0.0] * len(buckets))
            merged[server] = [a + b for a, b in zip(into, buckets, strict=True)]
    return {
        name: tuple(None if (s := quantile(q, bounds, b)) is None else s * 1000
                    for q in (0.5, 0.95, 0.99))
        for name, b in merged.items()
    }  # fmt: skip


def _edge(key: MeshKey, join: _Join, bounds: Sequence[float], per_s: float) -> EdgeView:
    row = join.traces or [0.0] * (BUCKETS + len(bounds) + 1)
    mesh_requests, mesh_failed = join.mesh[0], join.mesh[1]
    requests, failed = (mesh_requests, mesh_failed) if mesh_requests > 0 else (row[0], row[1])
    buckets = row[BUCKETS : BUCKETS + len(bounds) + 1]

    def ms(q: float) -> float | None:
        seconds = quantile(q, bounds, buckets)
        return None if seconds is None else seconds * 1000

    return EdgeView(
        source=key[0],
        target=key[1],
        connection_types=tuple(sorted(join.types)),
        trace_requests=row[TOTAL],
        trace_failed=row[FAILED],
        mesh_requests=mesh_requests,
        mesh_failed=mesh_failed,
        requests=requests,
        rate=requests * per_s,
        error_rate=failed / requests if requests > 0 else 0.0,
        coverage=row[TOTAL] / mesh_requests if mesh_requests > 0 else None,
        avg_ms=row[SERVER_SUM] / row[TOTAL] * 1000 if row[TOTAL] > 0 else None,
        p50_ms=ms(0.5),
        p90_ms=ms(0.9),
        p95_ms=ms(0.95),
        p99_ms=ms(0.99),
    )


def _nodes(
    edges: list[EdgeView],
    namespaces: Mapping[str, str],
    per_s: float,
    latency: Mapping[str, tuple[float | None, ...]],
) -> list[NodeView]:
    into: dict[str, list[float]] = {}  # requests, failed, traced requests, latency sum (ms)
    for edge in edges:
        into.setdefault(edge.source, [0.0, 0.0, 0.0, 0.0])
        stats = into.setdefault(edge.target, [0.0, 0.0, 0.0, 0.0])
        stats[0] += edge.requests
        stats[1] += edge.requests * edge.error_rate
        if edge.avg_ms is not None:
            stats[2] += edge.trace_requests
            stats[3] += edge.avg_ms * edge.trace_requests
    return [
        NodeView(
            id=name,
            namespace=namespaces.get(name, ""),
            instrumented=name != USER and name in namespaces,
            requests=stats[0],
            failed=stats[1],
            rate=stats[0] * per_s,
            avg_ms=stats[3] / stats[2] if stats[2] > 0 else None,
            p50_ms=latency.get(name, NONE3)[0],
            p95_ms=latency.get(name, NONE3)[1],
            p99_ms=latency.get(name, NONE3)[2],
        )
        for name, stats in sorted(into.items())
    ]


def only_namespace(graph: Graph, namespace: str) -> Graph:
    """``graph`` keeping the edges with an end in ``namespace`` and the nodes they touch."""
    names = {n.id for n in graph.nodes if n.namespace == namespace}
    edges = [e for e in graph.edges if e.source in names or e.target in names]
    kept = {e.source for e in edges} | {e.target for e in edges} | names
    return Graph(graph.window_s, [n for n in graph.nodes if n.id in kept], edges)
