"""Istio's standard metrics, aggregated per label set: cumulative counters and histograms with
Envoy's default buckets, an exemplar of the latest sampled request on each duration series, and
a bound on the number of series (past it, exchanges are counted as dropped, not as new series).

Written by the exporter thread, read by it (OTLP) and by the admin API (Prometheus text): every
access holds ``lock``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

from controlplane.api.telemetry import BUCKETS, LABELS, TCP_LABELS
from sidecar.telemetry.hooks import Exchange, head_size

Labels = tuple[str, ...]
_N = len(BUCKETS) + 1
_BOUNDS: Final = [float(bound) for bound in BUCKETS]
LABEL_CACHE = 4096


class Histogram:
    """Bucket counts (the last is +Inf), sum and count."""

    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * _N
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.buckets[_bucket(value)] += 1
        self.sum += value
        self.count += 1


def _bucket(value: float) -> int:
    """``bisect_left(BUCKETS, value)`` as a compiled scan of floats: most values fall in the
    first few buckets, and this skips the int/float comparisons of the generic bisect."""
    index = 0
    for bound in _BOUNDS:
        if value <= bound:
            return index
        index += 1
    return index


class HttpSeries:
    """One label set of the HTTP metrics."""

    __slots__ = ("duration", "exemplar", "request_bytes", "requests", "response_bytes")

    def __init__(self) -> None:
        self.requests = 0
        self.duration = Histogram()
        self.request_bytes = Histogram()
        self.response_bytes = Histogram()
        # (trace id, span id, value in ms, wall time in ns) of the latest sampled request
        self.exemplar: tuple[bytes, bytes, float, int] | None = None  # hex ids


class TcpSeries:
    """One label set of the istio_tcp_* metrics."""

    __slots__ = ("closed", "opened", "received", "sent")

    def __init__(self) -> None:
        self.opened = self.closed = self.received = self.sent = 0


class MetricStore:
    """Every series this sidecar reports, since ``start_ns``."""

    def __init__(self, max_series: int, start_ns: int) -> None:
        self.lock = threading.Lock()
        self.max_series = max_series
        self.start_ns = start_ns
        self.http: dict[Labels, HttpSeries] = {}
        self.tcp: dict[Labels, TcpSeries] = {}
        self.dropped = 0

    def series(self, labels: Labels) -> HttpSeries | None:
        """The HTTP series of ``labels`` (25 values, LABELS order), new if the bound allows, else
        None. Series are never removed, so callers may keep what this returns."""
        series = self.http.get(labels)
        if series is None and len(self.http) + len(self.tcp) < self.max_series:
            series = self.http[labels] = HttpSeries()
        return series

    def record(
        self, ex: Exchange, labels: Labels, series: HttpSeries | None, wall_offset: float
    ) -> None:
        """Counts one exchange in ``series`` (that of ``labels``; None: dropped, past the bound).
        ``wall_offset`` turns the loop's clock into Unix time (for exemplars)."""
        if series is None:
            self.dropped += 1
            return
        ms = (ex.end - ex.start) * 1000.0
        series.requests += 1
        series.duration.observe(ms)
        series.request_bytes.observe(ex.rx + head_size(ex.head))
        series.response_bytes.observe(ex.tx)
        if ex.sampled:
            series.exemplar = (ex.trace_id, ex.span_id, ms, int((ex.end + wall_offset) * 1e9))
        if ex.tunnel:
            self._record_tcp(ex, labels[: len(TCP_LABELS)])

    def _record_tcp(self, ex: Exchange, labels: Labels) -> None:
        series = self.tcp.get(labels)
        if series is None:
            if len(self.http) + len(self.tcp) >= self.max_series:
                self.dropped += 1
                return
            series = self.tcp[labels] = TcpSeries()
        series.opened += 1
        series.closed += 1
        series.received += ex.rx
        series.sent += ex.tx


class Recorder:
    """Counts the exporter thread's batches of exchanges in ``store`` (compiled: one loop in C).

    Caches, per exchange key (side, cluster, status, flag, peer metadata, peer id), the label
    tuple ``labels_of`` computes and the series it names: far fewer distinct keys than exchanges,
    and series are never removed from the store. Not thread-safe: the exporter thread's only."""

    def __init__(self, store: MetricStore, labels_of: Callable[[Exchange], Labels]) -> None:
        self.store = store
        self.labels_of = labels_of
        self._known: dict[tuple[object, ...], tuple[Labels, HttpSeries | None]] = {}

    def series_of(self, ex: Exchange) -> tuple[Labels, HttpSeries | None]:
        """The labels of ``ex`` and their series (None: past the series bound)."""
        key = (ex.side, ex.cluster, ex.status, ex.flag, ex.peer_meta, ex.peer_id)
        known = self._known.get(key)
        if known is None:
            labels = self.labels_of(ex)
            with self.store.lock:
                known = (labels, self.store.series(labels))
            if len(self._known) >= LABEL_CACHE:
                self._known.clear()
            self._known[key] = known
        return known

    def record_all(
        self, batch: list[Exchange], wall_offset: float
    ) -> list[tuple[Exchange, Labels]]:
        """Counts every exchange of ``batch``; returns the sampled ones with their labels."""
        store = self.store
        sampled: list[tuple[Exchange, Labels]] = []
        for ex in batch:
            labels, series = self.series_of(ex)
            with store.lock:  # per exchange: the admin API's scrape waits microseconds at most
                store.record(ex, labels, series, wall_offset)
            if ex.sampled:
                sampled.append((ex, labels))
        return sampled


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: tuple[str, ...], values: Labels, extra: str = "") -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=False)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}"


def _histogram_lines(name: str, labels: Labels, hist: Histogram) -> list[str]:
    out = []
    cumulative = 0
    for bound, count in zip((*BUCKETS, None), hist.buckets, strict=True):
        cumulative += count
        le = "+Inf" if bound is None else f"{bound:g}"
        text = _labels(LABELS, labels, 'le="' + le + '"')
        out.append(f"{name}_bucket{text} {cumulative}")
    text = _labels(LABELS, labels)
    out.append(f"{name}_sum{text} {hist.sum:g}")
    out.append(f"{name}_count{text} {hist.count}")
    return out


def prometheus_lines(store: MetricStore) -> list[str]:
    """The Istio metrics in the Prometheus text format (0.0.4)."""
    with store.lock:
        http = list(store.http.items())
        tcp = list(store.tcp.items())
        out = ["# TYPE istio_requests_total counter"]
        out += [f"istio_requests_total{_labels(LABELS, k)} {s.requests}" for k, s in http]
        for name, attr in (
            ("istio_request_duration_milliseconds", "duration"),
            ("istio_request_bytes", "request_bytes"),
            ("istio_response_bytes", "response_bytes"),
        ):
            out.append(f"# TYPE {name} histogram")
            for key, series in http:
                out += _histogram_lines(name, key, getattr(series, attr))
        for name, attr in (
            ("istio_tcp_connections_opened_total", "opened"),
            ("istio_tcp_connections_closed_total", "closed"),
            ("istio_tcp_received_bytes_total", "received"),
            ("istio_tcp_sent_bytes_total", "sent"),
        ):
            if tcp:
                out.append(f"# TYPE {name} counter")
                out += [f"{name}{_labels(TCP_LABELS, k)} {getattr(s, attr)}" for k, s in tcp]
    return out
