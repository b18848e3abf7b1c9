"""Plaintext admitted on a PERMISSIVE inbound port is inbound traffic: the sidecar records it as a
server span of its own service (the entry of a mesh, as the demo's frontend), not as a call out."""

from __future__ import annotations

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from controlplane.api.telemetry import TelemetryConfig
from tests.integration.bookinfo import Bookinfo, bookinfo_mesh, wait_until
from tests.integration.mesh import bound
from tests.integration.otlp_sink import OtlpSink, sink
from tests.integration.rawhttp import connect

__all__ = ["bookinfo_mesh", "sink"]
PERMISSIVE = {
    "apiVersion": "glassmesh.io/v1alpha1",
    "kind": "PeerAuthentication",
    "metadata": {"name": "reviews-entry"},
    "spec": {"selector": {"matchLabels": {"app": "reviews"}}, "mtls": {"mode": "PERMISSIVE"}},
}


async def test_a_plaintext_request_on_a_permissive_inbound_is_a_server_span(
    mesh: Bookinfo, sink: OtlpSink
) -> None:
    await mesh.start_control()
    await mesh.app("reviews")
    settings = TelemetryConfig(otlp_endpoint=sink.url, sampling_percent=100, flush_interval_s=0.02)
    reviews = await mesh.sidecar(mesh.config("reviews", telemetry=settings))
    await mesh.apply(PERMISSIVE)
    await wait_until(lambda: reviews.peer_mode == "PERMISSIVE", "PERMISSIVE")
    async with connect(bound(reviews, "inbound")) as client:
        await client.send(b"GET /echo/x HTTP/1.1\r\nHost: reviews\r\nConnection: close\r\n\r\n")
        assert (await client.read_all()).startswith(b"HTTP/1.1 200 ")
    await wait_until(lambda: len(sink.spans) == 1, "the request's span")
    service, span = sink.spans[0]
    assert service == "reviews"
    assert span.kind == Span.SPAN_KIND_SERVER
