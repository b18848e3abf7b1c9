"""The analysis API: an entry endpoint's bottlenecks, and one trace's critical path.

``GET /api/v1/bottlenecks?service=S&operation=O&lookback=15m`` answers one endpoint's report
(404 when it has no trace in the window); without ``operation`` it answers
``{"endpoints": [...]}`` for every entry endpoint (of ``service`` when given).
``GET /api/v1/critical-path/{trace_id}`` answers the spans on a recently analysed trace's
critical path, in order (404 when the trace is unknown or not complete yet).
A bad parameter is a 400 with ``{"error": "..."}``, counted in
``glassmesh_collector_analysis_bad_requests_total``. Reports are computed on the event loop
(a few tens of ms for an endpoint's what-if) and cached by the source.
"""

from __future__ import annotations

import re
from typing import Protocol

import msgspec
from aiohttp import web

from collector.analysis.report import Report
from collector.analysis.tree import Key, Tree

DEFAULT_LOOKBACK_S = 900.0
MAX_LOOKBACK_S = 7 * 86400.0
MAX_NAME = 256
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)?$")
_UNITS = {None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_HEX = re.compile(r"^[0-9a-f]{32}$")


class AnalysisSource(Protocol):
    def endpoints(self) -> list[Key]:
        """Every entry endpoint with analysed traces, sorted."""

    def report(self, entry: Key, lookback_s: float) -> Report | None:
        """The endpoint's report over the last ``lookback_s``, None without traces."""

    def critical_path(self, trace_id: str) -> list[tuple[Tree, int, int]] | None:
        """(tree, node, critical ns) of a recent trace's critical path, None if unknown."""

    def count_bad_request(self, reason: str) -> None:
        """Counts a request answered 4xx."""


class BadRequest(ValueError):
    """A parameter the client got wrong (answered 400)."""


def parse_lookback(raw: str | None) -> float:
    """Seconds asked for by ``lookback`` (``300``, ``90s``, ``15m``, ``1h``, ``1d``)."""
    if raw is None:
        return DEFAULT_LOOKBACK_S
    match = _DURATION.match(raw.strip())
    if match is None:
        raise BadRequest(f"lookback {raw[:40]!r} is not a duration like 300, 90s, 15m or 1h")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not 1.0 <= seconds <= MAX_LOOKBACK_S:
        raise BadRequest(f"lookback must be between 1s and 7d, got {raw[:40]!r}")
    return seconds


def _name(raw: str | None, what: str) -> str | None:
    if raw is not None and (not raw or len(raw) > MAX_NAME):
        raise BadRequest(f"{what} must be 1 to {MAX_NAME} characters")
    return raw


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), status=status,
                        content_type="application/json")  # fmt: skip


def analysis_routes(source: AnalysisSource) -> web.RouteTableDef:
    """The two GET routes over ``source``."""
    routes = web.RouteTableDef()

    def bad(reason: str, message: str, status: int = 400) -> web.Response:
        source.count_bad_request(reason)
        return _json({"error": message}, status)

    @routes.get("/api/v1/bottlenecks")
    async def bottlenecks(request: web.Request) -> web.Response:
        query = request.query
        try:
            lookback = parse_lookback(query.get("lookback"))
            service = _name(query.get("service"), "service")
            operation = _name(query.get("operation"), "operation")
            if operation is not None and service is None:
                raise BadRequest("operation needs service")
        except BadRequest as exc:
            return bad("bad_parameter", str(exc))
        if service is not None and operation is not None:
            entry = (service, operation)
            report = source.report(entry, lookback)
            if report is None:
                return bad("unknown_endpoint", f"no traces of {service} {operation!r} in the "
                           f"last {lookback:g}s", 404)  # fmt: skip
            return _json(report)
        entries = [e for e in source.endpoints() if service is None or e[0] == service]
        reports = _reports(source, entries, lookback)
        return _json({"endpoints": reports})

    @routes.get("/api/v1/critical-path/{trace_id}")
    async def critical_path(request: web.Request) -> web.Response:
        trace_id = request.match_info["trace_id"].lower()
        if not _HEX.match(trace_id):
            return bad("bad_parameter", "trace id must be 32 hex digits")
        path = source.critical_path(trace_id)
        if path is None:
            return bad("unknown_trace", f"trace {trace_id} is unknown or not complete yet", 404)
        spans = [
            {"span_id": tree.span_ids[i].hex(), "service": tree.service[i],
             "operation": tree.name[i], "start_us": tree.start[i] // 1000,
             "end_us": tree.end[i] // 1000, "self_us": critical // 1000}
            for tree, i, critical in path
        ]  # fmt: skip
        return _json({"trace_id": trace_id, "spans": spans})

    return routes


def _reports(source: AnalysisSource, entries: list[Key], lookback: float) -> list[Report]:
    found = (source.report(e, lookback) for e in entries)
    return [r for r in found if r is not None]
