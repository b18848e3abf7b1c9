"""Telemetry rules from the control plane over the config's defaults; the bounded hand-off; the
exporter's metrics, access log lines and drop counts, driven by hand (no thread, no network)."""

from __future__ import annotations

from controlplane.api.sidecar import Address, SidecarConfig, TlsConfig
from controlplane.api.telemetry import TelemetryConfig, TelemetryRule
from sidecar.http1.head import RequestHead
from sidecar.telemetry.hooks import Exchange, Sink
from sidecar.telemetry.service import Telemetry

ID = "spiffe://cluster.local/ns/shop/sa/cart"


def config(**telemetry: object) -> SidecarConfig:
    return SidecarConfig(
        service="cart",
        namespace="shop",
        identity=ID,
        app=Address(port=8080),
        tls=TlsConfig(cert="c", key="k", ca_bundle="ca"),
        labels={"app": "cart", "version": "v2"},
        telemetry=TelemetryConfig(**telemetry),  # type: ignore[arg-type]
    )


def rule(scope: str, **fields: object) -> TelemetryRule:
    return TelemetryRule(name=scope, scope=scope, **fields)  # type: ignore[arg-type]


def test_the_narrowest_matching_rule_wins_field_by_field() -> None:
    telemetry = Telemetry(config(sampling_percent=1.0, access_log="all"))
    telemetry.apply([
        rule("mesh", sampling_percent=100.0, access_log="off"),
        rule("namespace", access_log="errors"),
        rule("workload", match_labels={"version": "v1"}, sampling_percent=0.0),
    ])  # fmt: skip
    assert telemetry.outbound.sample_ratio == telemetry.inbound.sample_ratio == 1.0
    assert telemetry.exporter.modes.access_log == "errors"
    assert telemetry.rules == ["mesh", "namespace"]  # the v1 rule does not select a v2 pod
    telemetry.apply([])
    assert telemetry.sample_ratio == 0.01 and telemetry.exporter.modes.access_log == "all"


def test_a_full_hand_off_drops_and_counts_instead_of_growing() -> None:
    sink = Sink(2)
    telemetry = Telemetry(config())
    for _ in range(5):
        sink.put(Exchange(telemetry.outbound, None, 0.0, b"/", b""))
    assert (len(sink.queue), sink.dropped) == (2, 3)


def exchange(telemetry: Telemetry, status: int, flag: str = "") -> Exchange:
    head = RequestHead(b"GET", b"/cart?id=1", True, [b"user-agent"], [b"ua/1"])
    head.host = b"cart"
    ex = Exchange(telemetry.inbound, head, 10.0, b"/cart?id=1", b"cart:9080")
    ex.end, ex.status, ex.flag = 10.004, status, flag
    ex.trace_id, ex.span_id = b"%032x" % 7, b"%016x" % 9
    return ex


def test_the_exporter_counts_logs_and_drops_without_a_collector() -> None:
    written: list[bytes] = []
    telemetry = Telemetry(config(access_log="errors"), write=written.append)
    for status in (200, 200, 503):
        telemetry.sink.put(exchange(telemetry, status))
    telemetry.exporter.cycle()
    lines = b"".join(written).decode().splitlines()
    assert len(lines) == 1 and '"GET /cart?id=1 HTTP/1.1" 503 - ' in lines[0]
    assert '"ua/1"' in lines[0] and '"cart:9080"' in lines[0]
    text = "\n".join(telemetry.prometheus_lines())
    assert 'reporter="destination"' in text and 'response_code="503"' in text
    assert 'destination_workload="cart-v2"' in text and 'source_principal="unknown"' in text
    assert 'istio_request_duration_milliseconds_bucket{reporter="destination"' in text
    assert "glassmesh_sidecar_telemetry_queue_length 0" in text


def test_series_past_the_bound_are_dropped_and_counted() -> None:
    telemetry = Telemetry(config(max_series=2), write=lambda _: None)
    for status in (200, 201, 202, 203):
        telemetry.sink.put(exchange(telemetry, status))
    telemetry.exporter.cycle()
    assert len(telemetry.store.http) == 2 and telemetry.store.dropped == 2
    text = "\n".join(telemetry.prometheus_lines())
    assert (
        'glassmesh_sidecar_telemetry_dropped_total{signal="metrics",reason="series_limit"} 2'
        in text
    )
