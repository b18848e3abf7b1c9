"""Jaeger's api_v3 over HTTP: OTLP JSON traces (hex ids, integer enums, int64 as strings).

Errors use the gRPC-gateway shape ``{"error": {"grpcCode", "httpCode", "message",
"httpStatus"}}``; a search or lookup with no result is 404 ``No traces found`` / ``trace not
found`` (v1 answered 200 with empty data); a search needs ``query.startTimeMin`` and
``query.startTimeMax`` (RFC 3339).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDict
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Status, TracesData

from collector.config import QueryConfig
from collector.otlp import otlpjson
from collector.otlp.attrs import service_name
from collector.query import params
from collector.query.jaeger_v1 import _tags
from collector.query.params import BadParam
from collector.storage.api import KIND_NAMES, TraceQuery, TraceStore

_HTTP = {400: (3, "Bad Request"), 404: (5, "Not Found"), 500: (13, "Internal Server Error")}


def error(status: int, message: str) -> web.Response:
    grpc_code, text = _HTTP[status]
    body = {"error": {"grpcCode": grpc_code, "httpCode": status, "message": message,
                      "httpStatus": text}}  # fmt: skip
    return web.json_response(body, status=status)


def _param(query: Any, *names: str) -> str:
    """The first non-empty of a parameter's canonical name and its aliases."""
    for name in names:
        if query.get(name):
            return str(query[name])
    return ""


class JaegerV3:
    def __init__(self, store: TraceStore, config: QueryConfig) -> None:
        self.store = store
        self.config = config

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v3/services", self.services),
            web.get("/api/v3/operations", self.operations),
            web.get("/api/v3/traces/{trace_id}", self.trace),
            web.get("/api/v3/traces", self.search),
            web.get("/api/v3/trace-summaries", self.summaries),
        ]

    async def services(self, request: web.Request) -> web.Response:
        return web.json_response({"services": await self.store.services()})

    async def operations(self, request: web.Request) -> web.Response:
        service = _param(request.query, "service")
        wanted = _param(request.query, "spanKind", "span_kind")
        ops = [
            {"name": name, "spanKind": KIND_NAMES.get(kind, "internal")}  # type: ignore[call-overload]
            for name, kind in (await self.store.operations(service) if service else [])
        ]
        return web.json_response(
            {"operations": [op for op in ops if not wanted or op["spanKind"] == wanted]}
        )

    async def trace(self, request: web.Request) -> web.Response:
        try:
            trace_id = params.trace_id(request.match_info["trace_id"])
        except BadParam as exc:
            return error(400, str(exc))
        found = await self.store.trace(trace_id)
        if not found:
            return error(404, "trace not found")
        return web.json_response({"result": otlpjson.to_dict(TracesData(resource_spans=found))})

    async def _find(self, request: web.Request) -> list[list[ResourceSpans]] | web.Response:
        q = request.query
        try:
            low = _param(q, "query.startTimeMin", "query.start_time_min")
            high = _param(q, "query.startTimeMax", "query.start_time_max")
            if not low or not high:
                raise BadParam("query.startTimeMin and query.startTimeMax are required")
            service = _param(q, "query.serviceName", "query.service_name")
            if not service:
                raise BadParam("query.serviceName is required")
            query = self._query(q, service, low, high)
        except BadParam as exc:
            return error(400, str(exc))
        return await self.store.find_traces(query)

    def _query(self, q: Any, service: str, low: str, high: str) -> TraceQuery:
        start_min = params.rfc3339_ns(low, "query.startTimeMin")
        start_max = params.rfc3339_ns(high, "query.startTimeMax")
        if start_max < start_min:
            raise BadParam("query.startTimeMax must be after query.startTimeMin")
        depth = _param(q, "query.searchDepth", "query.search_depth", "query.num_traces")
        d_min = _param(q, "query.durationMin", "query.duration_min")
        d_max = _param(q, "query.durationMax", "query.duration_max")
        attributes = _param(q, "query.attributes")
        return TraceQuery(
            service=service, start_min_ns=start_min, start_max_ns=start_max,
            operation=_param(q, "query.operationName", "query.operation_name") or None,
            tags=_tags(MultiDict([("tags", attributes)]) if attributes else MultiDict()),
            min_duration_ns=params.go_duration_ns(d_min, "query.durationMin") if d_min else None,
            max_duration_ns=params.go_duration_ns(d_max, "query.durationMax") if d_max else None,
            limit=max(1, min(params.integer(depth, "query.searchDepth") if depth else 100,
                             self.config.max_traces)),
        )  # fmt: skip

    async def search(self, request: web.Request) -> web.Response:
        found = await self._find(request)
        if isinstance(found, web.Response):
            return found
        if not found:
            return error(404, "No traces found")
        merged = TracesData(resource_spans=[rs for trace in found for rs in trace])
        return web.json_response({"result": otlpjson.to_dict(merged)})

    async def summaries(self, request: web.Request) -> web.Response:
        found = await self._find(request)
        if isinstance(found, web.Response):
            return found
        return web.json_response({"summaries": [summary(t) for t in found]})


def summary(trace: list[ResourceSpans]) -> dict[str, Any]:
    """A trace summary for Jaeger UI's search page."""
    spans = [
        (service_name(rs.resource), s) for rs in trace for ss in rs.scope_spans for s in ss.spans
    ]
    ids = {s.span_id for _, s in spans}
    root_service, root = min(
        spans, key=lambda p: (bool(p[1].parent_span_id), p[1].start_time_unix_nano)
    )
    services: dict[str, dict[str, Any]] = {}
    for name, s in spans:
        entry = services.setdefault(name, {"name": name, "spanCount": 0, "errorSpanCount": 0})
        entry["spanCount"] += 1
        entry["errorSpanCount"] += s.status.code == Status.STATUS_CODE_ERROR
    return {
        "traceId": root.trace_id.hex(),
        "rootServiceName": root_service,
        "rootOperationName": root.name,
        "minStartTimeUnixNano": str(min(s.start_time_unix_nano for _, s in spans)),
        "maxEndTimeUnixNano": str(max(s.end_time_unix_nano for _, s in spans)),
        "spanCount": len(spans),
        "errorSpanCount": sum(e["errorSpanCount"] for e in services.values()),
        "orphanSpanCount": sum(
            1 for _, s in spans if s.parent_span_id and s.parent_span_id not in ids
        ),
        "services": list(services.values()),
    }
