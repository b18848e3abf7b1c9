"""Jaeger's v1 JSON query API (/api/services, /api/traces, /api/dependencies, ...).

Grafana's Jaeger data source uses it for everything; Jaeger UI for a trace and dependencies.
Envelope ``{"data", "total", "limit", "offset", "errors"}``; trace times in µs; search ``start``
and ``end`` in µs, dependencies ``endTs``/``lookback`` in ms; a trace lookup ignores ``start`` and
``end`` (Grafana sends ms where Jaeger expects µs).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from collector.config import QueryConfig
from collector.connectors.graphview import GraphSource
from collector.query import params
from collector.query.jaeger_model import trace_json
from collector.query.params import BadParam
from collector.storage.api import KIND_NAMES, TraceQuery, TraceStore

KINDS_BY_NAME = {name: kind for kind, name in KIND_NAMES.items()}
DEFAULT_LIMIT = 100
DAY_MS = 86_400_000


def envelope(
    data: Any, total: int = 0, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}


def ok(data: Any, total: int = 0, errors: list[dict[str, Any]] | None = None) -> web.Response:
    body = msgspec.json.encode(envelope(data, total, errors))  # 3-4x json.dumps on big traces
    return web.Response(body=body, content_type="application/json")


def error(status: int, msg: str) -> web.Response:
    body = envelope(None, errors=[{"code": status, "msg": msg}])
    return web.json_response(body, status=status)


class JaegerV1:
    def __init__(
        self,
        store: TraceStore,
        config: QueryConfig,
        clock: Callable[[], float] = time.time,
        graph: GraphSource | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.graph = graph

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/services", self.services),
            web.get("/api/services/{service}/operations", self.service_operations),
            web.get("/api/operations", self.operations),
            web.get("/api/traces", self.search),
            web.get("/api/traces/{trace_id}", self.trace),
            web.get("/api/dependencies", self.dependencies),
        ]

    async def services(self, request: web.Request) -> web.Response:
        names = await self.store.services()
        return ok(names, len(names))

    async def service_operations(self, request: web.Request) -> web.Response:
        ops = await self.store.operations(request.match_info["service"])
        names = sorted({name for name, _ in ops})
        return ok(names, len(names))

    async def operations(self, request: web.Request) -> web.Response:
        service = request.query.get("service", "")
        if not service:
            return error(400, "parameter 'service' is required")
        wanted = request.query.get("spanKind", "")
        ops = [
            {"name": name, "spanKind": KIND_NAMES.get(kind, "")}  # type: ignore[call-overload]
            for name, kind in await self.store.operations(service)
        ]
        ops = [op for op in ops if not wanted or op["spanKind"] == wanted]
        return ok(ops, len(ops))

    async def trace(self, request: web.Request) -> web.Response:
        try:
            trace_id = params.trace_id(request.match_info["trace_id"])
        except BadParam as exc:
            return error(400, str(exc))
        found = await self.store.trace(trace_id)
        if not found:
            return error(404, "trace not found")
        return ok([trace_json(found)])

    async def search(self, request: web.Request) -> web.Response:
        query = request.query
        if "traceID" in query:
            return await self._by_ids(query.getall("traceID"))
        try:
            q = self._parse_search(query)
        except BadParam as exc:
            return error(400, str(exc))
        traces = await self.store.find_traces(q)
        return ok([trace_json(t) for t in traces if t])

    async def _by_ids(self, ids: list[str]) -> web.Response:
        data, errors = [], []
        for raw in ids:
            try:
                found: list[ResourceSpans] = await self.store.trace(params.trace_id(raw))
            except BadParam as exc:
                return error(400, str(exc))
            if found:
                data.append(trace_json(found))
            else:
                errors.append({"code": 404, "msg": "trace not found", "traceID": raw})
        return ok(data, errors=errors or None)

    def _parse_search(self, query: Any) -> TraceQuery:
        service = query.get("service", "")
        if not service:
            raise BadParam("parameter 'service' is required")
        now_us = int(self.clock() * 1e6)
        end_us = params.integer(query["end"], "end") if query.get("end") else now_us
        lookback_us = int(self.config.default_lookback_s * 1e6)
        start_us = (
            params.integer(query["start"], "start") if query.get("start") else end_us - lookback_us
        )
        limit = params.integer(query["limit"], "limit") if query.get("limit") else DEFAULT_LIMIT
        min_d = (
            params.go_duration_ns(query["minDuration"], "minDuration")
            if query.get("minDuration")
            else None
        )
        max_d = (
            params.go_duration_ns(query["maxDuration"], "maxDuration")
            if query.get("maxDuration")
            else None
        )
        if min_d is not None and max_d is not None and max_d < min_d:
            raise BadParam("'maxDuration' should be greater than 'minDuration'")
        return TraceQuery(
            service=service, operation=query.get("operation") or None, tags=_tags(query),
            start_min_ns=start_us * 1000, start_max_ns=end_us * 1000,
            min_duration_ns=min_d, max_duration_ns=max_d,
            limit=max(1, min(limit or DEFAULT_LIMIT, self.config.max_traces)),
        )  # fmt: skip

    async def dependencies(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            end_ms = (
                params.integer(query["endTs"], "endTs")
                if query.get("endTs")
                else int(self.clock() * 1000)
            )
            lookback = (
                params.integer(query["lookback"], "lookback") if query.get("lookback") else DAY_MS
            )
        except BadParam as exc:
            return error(400, str(exc))
        links = self._graph_links(end_ms, lookback)
        if links is None:
            start_ns, end_ns = (end_ms - lookback) * 1_000_000, end_ms * 1_000_000
            links = await self.store.dependencies(start_ns, end_ns)
        service = query.get("service")
        data = [
            {"parent": p, "child": c, "callCount": n}
            for p, c, n in links
            if not service or service in (p, c)
        ]
        return ok(data)

    def _graph_links(self, end_ms: int, lookback_ms: int) -> list[tuple[str, str, int]] | None:
        """Links from the service-graph connector, so Jaeger's dependency view and the graph
        API agree: when it runs and the window asked for ends now (within one graph slot). The
        window is cut to what the graph keeps (``graph_retention_s``). None: use stored spans."""
        graph = self.graph
        if graph is None or abs(self.clock() - end_ms / 1000) > graph.slot_s:
            return None
        window = min(max(lookback_ms / 1000, graph.slot_s), graph.retention_s)
        edges = graph.graph(window).edges
        return sorted((e.source, e.target, round(e.requests)) for e in edges if e.requests > 0)


def _tags(query: Any) -> dict[str, str]:
    """``tags`` (JSON objects, repeatable) and ``tag`` (``key:value``, repeatable)."""
    tags: dict[str, str] = {}
    for raw in query.getall("tags", []):
        try:
            decoded = json.loads(raw)
        except ValueError:
            raise BadParam(f"malformed 'tags' parameter: {raw[:60]!r}") from None
        if not isinstance(decoded, dict):
            raise BadParam("malformed 'tags' parameter: not a JSON object")
        tags.update(
            (str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in decoded.items()
        )
    for raw in query.getall("tag", []):
        key, sep, value = raw.partition(":")
        if not sep:
            raise BadParam(f"malformed 'tag' parameter, expected key:value, got {raw[:60]!r}")
        tags[key] = value
    return tags
