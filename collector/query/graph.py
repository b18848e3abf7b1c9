"""The graph API: the reconciled service graph as our JSON and as Grafana Node Graph frames.

``GET /api/graph`` answers our JSON (both counts, coverage, error rate, latency percentiles);
``GET /api/graph/nodes`` and ``/api/graph/edges`` answer arrays of Node Graph fields for the
Infinity data source (formats ``node-graph-nodes`` / ``node-graph-edges``, no root selector).
Query parameters: ``window`` (seconds, or with a unit: ``90s``, ``15m``, ``1h``; default 15m),
``namespace`` (edges with an end in it). A bad parameter is a 400 with ``{"error": "..."}``.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from collector.connectors.graphview import EdgeView, Graph, GraphSource, NodeView

DEFAULT_WINDOW_S = 900.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)?$")
_UNITS = {None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
_NAMESPACE = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


class BadQuery(ValueError):
    """A query parameter the client got wrong (answered 400)."""


def parse_window(raw: str | None, source: GraphSource) -> float:
    """Seconds asked for by ``window``. Raises BadQuery when malformed or out of range."""
    if raw is None:
        return min(DEFAULT_WINDOW_S, source.retention_s)
    match = _DURATION.match(raw.strip())
    if match is None:
        raise BadQuery(f"window {raw!r} is not a duration like 300, 90s, 15m or 1h")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not source.slot_s <= seconds <= source.retention_s:
        raise BadQuery(
            f"window must be between {source.slot_s:g}s and {source.retention_s:g}s, got {raw!r}"
        )
    return seconds


def parse_namespace(raw: str | None) -> str | None:
    """The namespace filter, None if absent. Raises BadQuery if it cannot be a namespace."""
    if raw is None or raw == "":
        return None
    if not _NAMESPACE.match(raw):
        raise BadQuery(f"namespace {raw!r} is not a valid namespace name")
    return raw


def _num(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def node_frame(node: NodeView) -> dict[str, Any]:
    """A Node Graph node: mainstat avg response time (ms), secondarystat requests/s."""
    failed = node.failed / node.requests if node.requests > 0 else 0.0
    return {
        "id": node.id,
        "title": node.id,
        "subtitle": node.namespace,
        "mainstat": _num(node.avg_ms),
        "secondarystat": _num(node.rate),
        "arc__success": _num(1.0 - failed),
        "arc__failed": _num(failed),
        "isinstrumented": node.instrumented,
        "detail__requests": _num(node.requests),
    }


def edge_frame(edge: EdgeView) -> dict[str, Any]:
    """A Node Graph edge: mainstat requests/s, secondarystat trace coverage (%)."""
    coverage = None if edge.coverage is None else edge.coverage * 100
    return {
        "id": edge.id,
        "source": edge.source,
        "target": edge.target,
        "mainstat": _num(edge.rate),
        "secondarystat": _num(coverage),
        "detail__trace_requests": _num(edge.trace_requests),
        "detail__mesh_requests": _num(edge.mesh_requests),
        "detail__error_rate": _num(edge.error_rate),
        "detail__p99_ms": _num(edge.p99_ms),
    }


def graph_json(graph: Graph) -> dict[str, Any]:
    """Our own JSON for ``graph``."""
    return {
        "window_s": _num(graph.window_s),
        "nodes": [
            {
                "id": n.id,
                "namespace": n.namespace,
                "instrumented": n.instrumented,
                "requests": _num(n.requests),
                "rate": _num(n.rate),
                "error_rate": _num(n.failed / n.requests if n.requests > 0 else 0.0),
                "avg_ms": _num(n.avg_ms),
                "latency_ms": {"p50": _num(n.p50_ms), "p95": _num(n.p95_ms), "p99": _num(n.p99_ms)},
            }
            for n in graph.nodes
        ],
        "edges": [_edge_json(e) for e in graph.edges],
    }


def _edge_json(e: EdgeView) -> dict[str, Any]:
    return {
        "id": e.id,
        "source": e.source,
        "target": e.target,
        "connection_types": list(e.connection_types),
        "requests": _num(e.requests),
        "rate": _num(e.rate),
        "error_rate": _num(e.error_rate),
        "traces": {"requests": _num(e.trace_requests), "failed": _num(e.trace_failed)},
        "mesh": {"requests": _num(e.mesh_requests), "failed": _num(e.mesh_failed)},
        "coverage": _num(e.coverage),
        "latency_ms": {
            "avg": _num(e.avg_ms),
            "p50": _num(e.p50_ms),
            "p90": _num(e.p90_ms),
            "p95": _num(e.p95_ms),
            "p99": _num(e.p99_ms),
        },
    }


def graph_routes(source: GraphSource) -> web.RouteTableDef:
    """The three GET routes over ``source``. Handlers never block and never raise to aiohttp."""
    routes = web.RouteTableDef()

    def read(request: web.Request) -> Graph:
        window = parse_window(request.query.get("window"), source)
        return source.graph(window, parse_namespace(request.query.get("namespace")))

    def answer(request: web.Request, render: Any) -> web.Response:
        try:
            graph = read(request)
        except BadQuery as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(render(graph))

    @routes.get("/api/graph")
    async def whole(request: web.Request) -> web.Response:
        return answer(request, graph_json)

    @routes.get("/api/graph/nodes")
    async def nodes(request: web.Request) -> web.Response:
        return answer(request, lambda g: [node_frame(n) for n in g.nodes])

    @routes.get("/api/graph/edges")
    async def edges(request: web.Request) -> web.Response:
        return answer(request, lambda g: [edge_frame(e) for e in g.edges])

    return routes
