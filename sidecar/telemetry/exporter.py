"""The exporter thread: turns finished exchanges into metrics, spans and access log entries, and
sends them over OTLP/HTTP (protobuf) to the collector.

Every ``flush_interval_s`` it drains the hand-off deque, writes the access log lines to stdout in
one write, and posts spans and log records in batches of at most ``max_export_batch``; every
``metrics_interval_s`` it posts the cumulative metrics. A failed or slow post (bounded by
``export_timeout_s``) drops that batch and counts it, never retried, so a collector that is down
costs bounded memory and nothing on the request path. ``close()`` flushes once more and joins.
"""

from __future__ import annotations

import http.client
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from controlplane.api.telemetry import TelemetryConfig
from sidecar.telemetry import accesslog, otlp
from sidecar.telemetry.hooks import Exchange, Sink
from sidecar.telemetry.labels import LabelMaker, Labels
from sidecar.telemetry.metrics import MetricStore, Recorder
from sidecar.telemetry.spans import to_span

log = logging.getLogger("glassmesh.sidecar.telemetry")
SIGNALS = ("traces", "metrics", "logs")
# Exchanges per call into the compiled loops: compiled code never gives the GIL up, so the event
# loop waits at most one chunk (~1 ms) for the exporter thread, as with interpreted code.
CHUNK = 256


@dataclass
class Modes:
    """What the exporter does with each exchange; replaced whole when config changes."""

    access_log: str = "all"
    access_log_json: bool = False
    access_log_otlp: bool = False


class OtlpHttp:
    """Posts protobuf bodies to ``<endpoint>/v1/<signal>`` on one keep-alive connection."""

    def __init__(self, endpoint: str, timeout_s: float) -> None:
        url = urlsplit(endpoint)
        self._https = url.scheme == "https"
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port or (443 if self._https else 80)
        self._base = url.path.rstrip("/")
        self._timeout = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def post(self, signal: str, body: bytes) -> bool:
        """True if the collector answered 2xx. Never raises."""
        try:
            if self._conn is None:
                cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                self._conn = cls(self._host, self._port, timeout=self._timeout)
            self._conn.request(
                "POST",
                f"{self._base}/v1/{signal}",
                body,
                {"Content-Type": "application/x-protobuf"},
            )
            response = self._conn.getresponse()
            response.read()
            if response.status < 300:
                return True
        except (OSError, http.client.HTTPException):
            pass
        self.close()
        return False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Exporter:
    """The thread and what it counts (``exported``, ``dropped`` by (signal, reason))."""

    def __init__(
        self,
        config: TelemetryConfig,
        sink: Sink,
        labels: LabelMaker,
        store: MetricStore,
        res: Resource,
        *,
        write: Callable[[bytes], None] | None = None,
    ) -> None:
        self.config = config
        self.sink = sink
        self.labels = labels
        self.store = store
        self.resource = res
        self.modes = Modes(config.access_log, config.access_log_format == "json",
                           config.access_log_otlp)  # fmt: skip
        self.exported: Counter[str] = Counter()
        self.dropped: Counter[tuple[str, str]] = Counter()
        self._write = write or _stdout
        self._client = (
            OtlpHttp(config.otlp_endpoint, config.export_timeout_s)
            if config.otlp_endpoint
            else None
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_metrics = time.monotonic() + config.metrics_interval_s
        self._recorder = Recorder(store, labels.labels)
        self._text = accesslog.TextLines()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="glassmesh-telemetry", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        """Flushes what is queued (metrics too), stops the thread. Idempotent; blocks at most
        about two export timeouts."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.config.flush_interval_s):
                self.cycle()
            self.cycle(final=True)
        except Exception:  # our bug: telemetry stops, the sidecar serves on
            log.exception("telemetry exporter failed; telemetry stops")
        finally:
            if self._client is not None:
                self._client.close()

    def cycle(self, final: bool = False) -> None:
        """One round: drain, record, write logs, post spans and logs, and metrics when due."""
        queue = self.sink.queue
        while queue:
            batch: list[Exchange] = []
            while queue and len(batch) < self.config.max_export_batch:
                batch.append(queue.popleft())
            self._process(batch)
        now = time.monotonic()
        if final or now >= self._next_metrics:
            self._next_metrics = now + self.config.metrics_interval_s
            self.export_metrics()

    def _process(self, batch: list[Exchange]) -> None:
        offset = time.time() - time.monotonic()
        modes = self.modes
        traced = self._client is not None
        mode = modes.access_log
        lines: list[bytes] = []
        sampled: list[tuple[Exchange, Labels]] = []
        for at in range(0, len(batch), CHUNK):
            sampled += self._recorder.record_all(batch[at : at + CHUNK], offset)
        spans = [to_span(ex, labels, offset) for ex, labels in sampled] if traced else []
        logged = batch if mode == "all" else [ex for ex in batch if accesslog.wanted(ex, mode)]
        if logged:
            lines = self._lines(logged, offset, modes.access_log_json)
            self._write_lines(lines)
        if spans:
            self._post("traces", len(spans), otlp.traces(self.resource, spans))
        if lines and modes.access_log_otlp and traced:
            records = [
                accesslog.log_record(e, x, offset) for e, x in zip(logged, lines, strict=True)
            ]
            self._post("logs", len(records), otlp.logs(self.resource, records))

    def _lines(self, logged: list[Exchange], offset: float, as_json: bool) -> list[bytes]:
        if as_json:
            return [accesslog.json_line(accesslog.fields(ex, offset)) for ex in logged]
        text = self._text
        lines: list[bytes] = []
        for at in range(0, len(logged), CHUNK):
            lines += text.lines(logged[at : at + CHUNK], offset)
        return lines

    def _write_lines(self, lines: list[bytes]) -> None:
        """One write for the batch, in order (stdout by default)."""
        try:
            self._write(accesslog.utf8(b"".join(lines)))
        except (OSError, ValueError):
            self.dropped["logs", "stdout"] += len(lines)

    def export_metrics(self) -> None:
        if self._client is None:
            return
        body = otlp.metrics_request(self.resource, self.store, time.time_ns(), self.self_metrics())
        self._post("metrics", 1, body)

    def _post(self, signal: str, count: int, body: bytes) -> None:
        assert self._client is not None
        if self._client.post(signal, body):
            self.exported[signal] += count
        else:
            self.dropped[signal, "export_failed"] += count

    def self_metrics(self) -> list[tuple[str, dict[str, str], int]]:
        """(name, labels, value) of the sidecar's telemetry counters."""
        out = [
            ("glassmesh_sidecar_telemetry_dropped_total", {"signal": "all", "reason": "queue_full"},
             self.sink.dropped),
            ("glassmesh_sidecar_telemetry_dropped_total",
             {"signal": "metrics", "reason": "series_limit"}, self.store.dropped),
        ]  # fmt: skip
        for (signal, reason), value in sorted(self.dropped.items()):
            out.append(("glassmesh_sidecar_telemetry_dropped_total",
                        {"signal": signal, "reason": reason}, value))  # fmt: skip
        for signal in SIGNALS:
            out.append(("glassmesh_sidecar_telemetry_exported_total", {"signal": signal},
                        self.exported[signal]))  # fmt: skip
        return out


def _stdout(data: bytes) -> None:
    """Writes to the process's stdout, after any text already buffered there."""
    stream = sys.stdout
    stream.flush()
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a text-only stream (replaced by a test harness, say)
        stream.write(data.decode())
    else:
        buffer.write(data)
        buffer.flush()
