"""The application on :16686: Jaeger v1 and v3, trace logs, the web UI, and the graph API when the
service-graph connector runs. Handlers never let an exception reach aiohttp as a 500 page."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from opentelemetry.proto.logs.v1.logs_pb2 import LogsData

from collector.config import QueryConfig
from collector.connectors.graphview import GraphSource
from collector.otlp import otlpjson
from collector.query import params
from collector.query.analysis import AnalysisSource, analysis_routes
from collector.query.jaeger_v1 import JaegerV1
from collector.query.jaeger_v3 import JaegerV3
from collector.storage.api import TraceStore
from collector.telemetry import SelfMetrics
from collector.ui.site import counter, ui_routes

log = logging.getLogger("glassmesh.collector.query")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _no_crash(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("query failed: %s", request.path.encode("unicode_escape").decode()[:200])
        body = {"data": None, "total": 0, "limit": 0, "offset": 0,
                "errors": [{"code": 500, "msg": "internal error"}]}  # fmt: skip
        return web.json_response(body, status=500)


def make_query_app(
    store: TraceStore,
    config: QueryConfig,
    graph_source: GraphSource | None = None,
    clock: Callable[[], float] = time.time,
    *,
    metrics: SelfMetrics | None = None,
    analysis: AnalysisSource | None = None,
) -> web.Application:
    app = web.Application(middlewares=[_no_crash])
    app.add_routes(ui_routes(count=counter(metrics)) if metrics else ui_routes())
    app.add_routes(JaegerV1(store, config, clock, graph_source).routes())
    app.add_routes(JaegerV3(store, config).routes())

    async def trace_logs(request: web.Request) -> web.Response:
        """GET /api/logs/{trace_id}: log records of a trace as OTLP JSON LogsData."""
        try:
            trace_id = params.trace_id(request.match_info["trace_id"])
        except params.BadParam as exc:
            return web.json_response({"error": str(exc)}, status=400)
        found = await store.logs(trace_id)
        return web.json_response({"result": otlpjson.to_dict(LogsData(resource_logs=found))})

    app.router.add_get("/api/logs/{trace_id}", trace_logs)
    if graph_source is not None:
        from collector.query.graph import graph_routes

        app.add_routes(graph_routes(graph_source))
    if analysis is not None:
        app.add_routes(analysis_routes(analysis))
    return app
