"""Cumulative per-edge tallies of the trace-derived graph and their Tempo metric families."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from collector.connectors.otlp import HistogramPoint, Labels, histogram_metric, sum_metric

EdgeKey = tuple[str, str, str]  # client, server, connection_type
# A tally: [total, failed, server seconds sum, client seconds sum, server buckets.., client ..]
TOTAL, FAILED, SERVER_SUM, CLIENT_SUM, BUCKETS = 0, 1, 2, 3, 4
REQUEST_TOTAL = "traces_service_graph_request_total"
REQUEST_FAILED = "traces_service_graph_request_failed_total"
SERVER_SECONDS = "traces_service_graph_request_server_seconds"
CLIENT_SECONDS = "traces_service_graph_request_client_seconds"
UNPAIRED = "traces_service_graph_unpaired_spans_total"
DROPPED = "traces_service_graph_dropped_spans_total"
OVERFLOW = "glassmesh_servicegraph_overflow_edges_total"


def labels(key: EdgeKey) -> tuple[tuple[str, str], ...]:
    """Tempo's label set for an edge key."""
    return (("client", key[0]), ("server", key[1]), ("connection_type", key[2]))


class EdgeTallies:
    """Weighted request counts and latency histograms per (client, server, connection_type).

    At most ``max_edges`` keys per family; requests on further keys are counted in OVERFLOW."""

    def __init__(self, bounds: Sequence[float], max_edges: int, start_s: float) -> None:
        self.bounds = tuple(bounds)
        self.width = BUCKETS + len(self.bounds) + 1  # the part the graph API windows over
        self.edges: dict[EdgeKey, list[float]] = {}
        self.unpaired: dict[EdgeKey, float] = {}
        self.dropped: dict[EdgeKey, float] = {}
        self.overflow = 0.0
        self._starts: dict[EdgeKey, float] = {}
        self._max = max_edges
        self._start_s = self._last_flush = start_s

    def record(
        self, key: EdgeKey, failed: bool, server_s: float, client_s: float, weight: float
    ) -> None:
        """Counts one request (weighted) on ``key``. Never raises."""
        tally = self.edges.get(key)
        if tally is None:
            tally = self._new(key)
            if tally is None:
                self.overflow += weight
                return
        tally[TOTAL] += weight
        if failed:
            tally[FAILED] += weight
        tally[SERVER_SUM] += server_s * weight
        tally[CLIENT_SUM] += client_s * weight
        bounds = self.bounds
        tally[BUCKETS + bisect_left(bounds, server_s)] += weight
        tally[self.width + bisect_left(bounds, client_s)] += weight

    def _new(self, key: EdgeKey) -> list[float] | None:
        if len(self.edges) >= self._max:
            return None
        tally = self.edges[key] = [0.0] * (self.width + len(self.bounds) + 1)
        return tally

    def count(self, family: dict[EdgeKey, float], key: EdgeKey) -> None:
        """Adds one span to ``family`` (``unpaired`` or ``dropped``), bounded like the edges."""
        if key in family or len(family) < self._max:
            family[key] = family.get(key, 0.0) + 1.0
        else:
            self.overflow += 1.0

    def metrics(self, now_s: float) -> list[Metric]:
        """The six Tempo families plus the overflow counter, cumulative since each series began.

        A series begins at the flush before the one that first exported it."""
        starts = self._starts
        for key in (*self.edges, *self.unpaired, *self.dropped):
            starts.setdefault(key, self._last_flush)
        self._last_flush = now_s
        edges = sorted(self.edges.items())

        def sums(index: int) -> list[tuple[Labels, float, float]]:
            return [(labels(k), t[index], starts[k]) for k, t in edges]

        def family(values: dict[EdgeKey, float]) -> list[tuple[Labels, float, float]]:
            return [(labels(k), v, starts[k]) for k, v in sorted(values.items())]

        overflow = [((), self.overflow, self._start_s)]
        return [
            sum_metric(REQUEST_TOTAL, "Requests between two nodes", sums(TOTAL), now_s),
            sum_metric(REQUEST_FAILED, "Failed requests between two nodes", sums(FAILED), now_s),
            self._histogram(
                SERVER_SECONDS,
                side="server",
                edges=edges,
                first=BUCKETS,
                total=SERVER_SUM,
                now_s=now_s,
            ),
            self._histogram(
                CLIENT_SECONDS,
                side="client",
                edges=edges,
                first=self.width,
                total=CLIENT_SUM,
                now_s=now_s,
            ),
            sum_metric(UNPAIRED, "Spans whose other half never came", family(self.unpaired), now_s),
            sum_metric(DROPPED, "Spans dropped: edge store full", family(self.dropped), now_s),
            sum_metric(OVERFLOW, "Requests on edges past max_edges", overflow, now_s),
        ]

    def _histogram(
        self,
        name: str,
        *,
        side: str,
        edges: list[tuple[EdgeKey, list[float]]],
        first: int,
        total: int,
        now_s: float,
    ) -> Metric:
        n = len(self.bounds) + 1
        points = [
            HistogramPoint(labels(k), t[first : first + n], t[total], self._starts[k])
            for k, t in edges
        ]
        what = f"Request time between two nodes as seen from the {side}"
        return histogram_metric(name, what, self.bounds, points, now_s)
