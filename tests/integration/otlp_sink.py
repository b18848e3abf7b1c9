"""An OTLP/HTTP endpoint for tests: decodes the protobuf requests it receives and keeps them, and
a sidecar pair whose telemetry is exported to it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from controlplane.api.sidecar import SidecarConfig
from controlplane.api.telemetry import TelemetryConfig
from sidecar.server import Sidecar
from tests.integration.mesh import (
    CLIENT_ID,
    SERVER_ID,
    Certs,
    bound,
    server_cluster,
    sidecar_config,
)
from tests.integration.rawhttp import Response, connect
from tests.integration.recording_app import RecordingApp


def attrs(items: Any) -> dict[str, Any]:
    """OTLP attributes as a dict of plain values."""
    out: dict[str, Any] = {}
    for kv in items:
        assert isinstance(kv, KeyValue)
        which = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, which) if which else None
    return out


@dataclass
class OtlpSink:
    """What the endpoint received: spans (with their resource's service.name), metrics, logs."""

    spans: list[tuple[str, Span]] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    content_types: set[str] = field(default_factory=set)
    runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        app.router.add_post("/v1/metrics", self._metrics)
        app.router.add_post("/v1/logs", self._logs)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _body(self, request: web.Request) -> bytes:
        self.content_types.add(request.content_type)
        return await request.read()

    async def _traces(self, request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest.FromString(await self._body(request))
        for rs in message.resource_spans:
            service = attrs(rs.resource.attributes)["service.name"]
            self.spans += [(service, s) for ss in rs.scope_spans for s in ss.spans]
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def _metrics(self, request: web.Request) -> web.Response:
        message = ExportMetricsServiceRequest.FromString(await self._body(request))
        for rm in message.resource_metrics:
            self.metrics += [m for sm in rm.scope_metrics for m in sm.metrics]
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def _logs(self, request: web.Request) -> web.Response:
        message = ExportLogsServiceRequest.FromString(await self._body(request))
        for rl in message.resource_logs:
            self.logs += [r for sl in rl.scope_logs for r in sl.log_records]
        return web.Response(body=b"", content_type="application/x-protobuf")

    def spans_of(self, service: str) -> list[Span]:
        return [s for name, s in self.spans if name == service]


async def eventually(check: Callable[[], bool], what: str, within_s: float = 5.0) -> None:
    """Polls ``check`` every 10 ms; fails naming ``what`` after ``within_s``."""
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def with_telemetry(config: SidecarConfig, **settings: Any) -> SidecarConfig:
    """``config`` exporting fast (every 20 ms) with ``settings`` for its telemetry section."""
    fast = {"flush_interval_s": 0.02, "metrics_interval_s": 0.05, **settings}
    return msgspec.structs.replace(config, telemetry=TelemetryConfig(**fast))


Pair = tuple[Sidecar, Sidecar]
StartPair = Callable[..., Awaitable[Pair]]


@pytest.fixture
async def sink() -> AsyncIterator[OtlpSink]:
    endpoint = OtlpSink()
    await endpoint.start()
    yield endpoint
    await endpoint.close()


@pytest.fixture
async def start_pair(certs: Certs, app: RecordingApp, sink: OtlpSink) -> AsyncIterator[StartPair]:
    started: list[Sidecar] = []

    async def start(**settings: Any) -> Pair:
        settings = {"otlp_endpoint": sink.url, "sampling_percent": 100.0, **settings}
        b_config = with_telemetry(sidecar_config(certs, "server", SERVER_ID, app.port), **settings)
        b = Sidecar(b_config, certs.directory)
        started.append(b)
        await b.start()
        a_config = sidecar_config(
            certs, "client", CLIENT_ID, app.port, clusters=[server_cluster([bound(b, "inbound")])]
        )
        a = Sidecar(with_telemetry(a_config, **settings), certs.directory)
        started.append(a)
        await a.start()
        return a, b

    yield start
    for sidecar in reversed(started):
        await sidecar.shutdown()


async def send(
    a: Sidecar, target: bytes = b"/x", host: bytes = b"server", **fields: str
) -> Response:
    lines = b"".join(
        b"%s: %s\r\n" % (k.replace("_", "-").encode(), v.encode()) for k, v in fields.items()
    )
    async with connect(bound(a, "outbound")) as client:
        return await client.request(
            b"GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (target, host, lines)
        )
