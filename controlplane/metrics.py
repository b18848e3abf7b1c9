"""The control plane's own metrics (``glassmesh_controlplane_*``) and the plain-HTTP ``/metrics``
endpoint that serves them, on 15014 like istiod's monitoring port.

Counters and the push-latency histogram are updated on the event loop; gauges are read when
Prometheus scrapes, so they never go stale. Every counter is emitted from the start (0 until
something happens), so a dashboard shows 0 NACKs rather than "no data".
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PREFIX = "glassmesh_controlplane_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Config convergence on one box is milliseconds; across a cluster, seconds (istiod's
# pilot_proxy_convergence_time uses 0.1 .. 30 s).
PUSH_BUCKETS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


@dataclass
class Histogram:
    """Cumulative buckets of observed values (seconds)."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1


class ControlPlaneMetrics:
    """What the control plane counts and measures. ``connected`` and the certificate gauges are
    callbacks set by their owners (the pusher, the server)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.pushes = 0
        self.push_failures = 0
        self.acks = 0
        self.nacks = 0
        self.certificates_issued = 0
        self.push_latency = Histogram(PUSH_BUCKETS_S)
        self.connected: Callable[[], int] = lambda: 0
        self.root_expiry: float | None = None
        self.kubernetes: Callable[[], dict[str, Any]] | None = None  # Kubernetes mode's status()
        self.injections: Callable[[], dict[str, int]] | None = None  # the webhook's, by result
        self._expiries: dict[str, float] = {}  # identity -> expiry of its newest certificate

    def issued(self, identity: str, expires_at: float) -> None:
        """A workload certificate for ``identity`` valid until ``expires_at`` (epoch seconds)."""
        self.certificates_issued += 1
        self._expiries[identity] = expires_at

    def soonest_expiry(self) -> float | None:
        """The earliest expiry among each identity's newest certificate still valid (a renewed
        certificate replaces its predecessor; expired ones are forgotten)."""
        now = self.clock()
        for identity in [i for i, at in self._expiries.items() if at <= now]:
            del self._expiries[identity]
        return min(self._expiries.values(), default=None)

    def render(self) -> str:
        """The Prometheus text exposition (format 0.0.4) of every metric."""
        lines: list[str] = []
        counters = (
            ("pushes_total", "Snapshots sent to sidecars", self.pushes),
            (
                "push_failures_total",
                "Snapshot sends that failed (stream closed)",
                self.push_failures,
            ),
            ("acks_total", "Snapshots sidecars acknowledged", self.acks),
            ("nacks_total", "Snapshots sidecars refused (NACK)", self.nacks),
            ("certificates_issued_total", "Workload certificates issued", self.certificates_issued),
        )
        for name, help_text, value in counters:
            _family(lines, name, "counter", help_text, [("", float(value))])
        _family(lines, "connected_sidecars", "gauge", "Sidecars with an open config stream",
                [("", float(self.connected()))])  # fmt: skip
        self._histogram(lines)
        soonest = self.soonest_expiry()
        if soonest is not None:
            _family(lines, "workload_cert_soonest_expiry_timestamp_seconds", "gauge",
                    "When the first current workload certificate expires (epoch seconds)",
                    [("", soonest)])  # fmt: skip
        if self.root_expiry is not None:
            root = [("", self.root_expiry)]
            _family(lines, "root_cert_expiry_timestamp_seconds", "gauge",
                    "When the CA root expires (epoch seconds)", root)  # fmt: skip
        if self.kubernetes is not None:
            _kubernetes(lines, self.kubernetes())
        if self.injections is not None:
            samples = [
                (f'{{result="{k}"}}', float(v)) for k, v in sorted(self.injections().items())
            ]
            _family(lines, "sidecar_injections_total", "counter",
                    "Pods the injection webhook reviewed, by result", samples)  # fmt: skip
        return "\n".join(lines) + "\n"

    def _histogram(self, lines: list[str]) -> None:
        name = PREFIX + "push_latency_seconds"
        h = self.push_latency
        lines.append(f"# HELP {name} From a resource or registry change (or a sidecar joining) "
                     "to the sidecar's ACK of the snapshot that carried it")  # fmt: skip
        lines.append(f"# TYPE {name} histogram")
        running = 0
        for bound, count in zip((*h.bounds, float("inf")), h.counts, strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else _number(bound)
            lines.append(f'{name}_bucket{{le="{le}"}} {running}')
        lines.append(f"{name}_sum {_number(h.total)}")
        lines.append(f"{name}_count {h.count}")


def _kubernetes(lines: list[str], status: dict[str, Any]) -> None:
    """Kubernetes mode: CRs rejected (since start, and now) and each watch's relists and errors."""
    _family(lines, "kubernetes_resources_rejected_total", "counter",
            "Custom resources rejected by validation (the last good version stays)",
            [("", float(status["rejections_total"]))])  # fmt: skip
    rejected_now = [("", float(len(status["rejected"])))]
    _family(lines, "kubernetes_resources_rejected", "gauge",
            "Custom resources whose current version is rejected", rejected_now)  # fmt: skip
    watches = sorted(status["watches"].items())
    for name, key, help_text in (
        ("kubernetes_watch_relists_total", "gone", "Watches that had to list again (410 Gone)"),
        ("kubernetes_watch_errors_total", "errors", "Failed lists and watches (then a backoff)"),
    ):
        samples = [(f'{{kind="{kind}"}}', float(stats[key])) for kind, stats in watches]
        _family(lines, name, "counter", help_text, samples)


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


def _family(
    lines: list[str], name: str, kind: str, help_text: str, samples: list[tuple[str, float]]
) -> None:
    full = PREFIX + name
    lines.append(f"# HELP {full} {help_text}")
    lines.append(f"# TYPE {full} {kind}")
    lines.extend(f"{full}{labels} {_number(value)}" for labels, value in samples)


def metrics_app(metrics: ControlPlaneMetrics) -> web.Application:
    """``GET /metrics``, plain HTTP and no token (like istiod's :15014; bind it where only the
    scraper reaches it)."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", handler)
    return app


async def serve_metrics(
    metrics: ControlPlaneMetrics, host: str, port: int
) -> tuple[web.AppRunner, str]:
    """Start ``/metrics`` on host:port; the runner (to clean up) and the base URL."""
    runner = web.AppRunner(metrics_app(metrics), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://{bound_host}:{bound_port}"
