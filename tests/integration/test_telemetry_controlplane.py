"""Telemetry resources applied through the control plane change what running sidecars sample and
log: mesh-wide from the root namespace, then narrowed by a workload selector."""

from __future__ import annotations

from controlplane.api.telemetry import TelemetryConfig
from sidecar.server import Sidecar
from tests.integration.bookinfo import Bookinfo, bookinfo_mesh, endpoint_ports, wait_until
from tests.integration.otlp_sink import OtlpSink, sink

__all__ = ["bookinfo_mesh", "sink"]


def telemetry(name: str, namespace: str, spec: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "glassmesh.io/v1alpha1",
        "kind": "Telemetry",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


async def start(mesh: Bookinfo, sink: OtlpSink, service: str) -> Sidecar:
    await mesh.app(service)
    settings = TelemetryConfig(
        otlp_endpoint=sink.url,
        sampling_percent=0.0,
        flush_interval_s=0.02,
        access_log="all",
        access_log_otlp=True,
    )
    return await mesh.sidecar(mesh.config(service, telemetry=settings))


async def test_telemetry_resources_set_sampling_and_access_logging(
    mesh: Bookinfo, sink: OtlpSink
) -> None:
    await mesh.start_control()
    reviews = await start(mesh, sink, "reviews")
    page = await start(mesh, sink, "productpage")
    await wait_until(lambda: len(endpoint_ports(page, "reviews")) == 1, "the reviews endpoint")
    assert (await mesh.call(page))[0] == 200
    await wait_until(lambda: len(sink.logs) == 2, "access log records, both sides")
    assert sink.spans == []  # 0% from the sidecars' own config

    await mesh.apply(
        telemetry("mesh-default", "glassmesh-system",
                  {"tracing": [{"randomSamplingPercentage": 100}]})
    )  # fmt: skip
    await wait_until(lambda: all(_ratio(s) == 1.0 for s in (page, reviews)), "100% sampling")
    assert (await mesh.call(page))[0] == 200
    await wait_until(lambda: len(sink.spans) == 2, "both spans of the call")
    assert {service for service, _ in sink.spans} == {"productpage", "reviews"}

    quiet: dict[str, object] = {
        "selector": {"matchLabels": {"app": "reviews"}},
        "accessLogging": [{"disabled": True}],
    }
    await mesh.apply(telemetry("reviews-quiet", "default", quiet))
    await mesh.apply(telemetry("page-quiet", "default", {**quiet, "selector": {
        "matchLabels": {"version": "v1"}}}))  # fmt: skip
    await wait_until(lambda: _log_mode(page) == "off", "access logs off for productpage")
    logs_before = len(sink.logs)
    assert (await mesh.call(page))[0] == 200
    await wait_until(lambda: len(sink.spans) == 4, "the next call's spans")
    assert len(sink.logs) == logs_before  # still sampled, no longer logged


def _ratio(sidecar: Sidecar) -> float:
    assert sidecar.telemetry is not None
    return sidecar.telemetry.sample_ratio


def _log_mode(sidecar: Sidecar) -> str:
    assert sidecar.telemetry is not None
    return sidecar.telemetry.exporter.modes.access_log
