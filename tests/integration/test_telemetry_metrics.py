"""Istio metrics (Prometheus text on the admin port and OTLP), access logs in both formats, and a
collector that is down: requests unaffected, telemetry dropped and counted."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import pytest

from controlplane.api.telemetry import BUCKETS, LABELS
from sidecar.server import Sidecar
from tests.integration.mesh import CLIENT_ID, SERVER_ID, bound, closed_port
from tests.integration.otlp_sink import (
    OtlpSink,
    StartPair,
    attrs,
    eventually,
    send,
    sink,
    start_pair,
)

__all__ = ["sink", "start_pair"]  # fixtures shared with test_telemetry
TEXT_LOG = re.compile(
    r'^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET /items HTTP/1\.1" 200 - via_upstream - '
    r'"-" 0 \d+ \d+ - "-" "probe/1" "(-|[0-9a-f-]{36})" "server" "127\.0\.0\.1:\d+" server '
    r"- - 127\.0\.0\.1:\d+ - -$"
)


async def scrape(sidecar: Sidecar) -> str:
    host, port = bound(sidecar, "admin")
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://{host}:{port}/stats/prometheus") as resp,
    ):
        return await resp.text()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample of ``name`` whose labels include ``labels``."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("} ")[0]))
        if labels.items() <= found.items():
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_istio_metrics_from_both_sides_with_exact_names_and_labels(
    start_pair: StartPair,
) -> None:
    a, b = await start_pair(sampling_percent=0.0)
    for _ in range(3):
        assert (await send(a, b"/items")).status == 200
    assert (await send(a, b"/status/404")).status == 404
    await eventually(lambda: b.telemetry is not None and len(b.telemetry.store.http) == 2, "b")
    await eventually(lambda: a.telemetry is not None and len(a.telemetry.store.http) == 2, "a")
    source, destination = await scrape(a), await scrape(b)
    line = next(x for x in source.splitlines() if x.startswith("istio_requests_total{"))
    assert re.findall(r"(\w+)=", line) == list(LABELS)  # every Istio label, in Istio's order
    ok = {"response_code": "200", "response_flags": "-", "request_protocol": "http"}
    assert sample(source, "istio_requests_total", reporter="source", source_workload="client",
                  source_principal=CLIENT_ID, destination_workload="server",
                  destination_service="server.default.svc.cluster.local",
                  destination_service_name="server", destination_principal=SERVER_ID,
                  connection_security_policy="unknown", **ok) == 3  # fmt: skip
    assert sample(destination, "istio_requests_total", reporter="destination",
                  source_workload="client", source_principal=CLIENT_ID,
                  destination_workload="server", connection_security_policy="mutual_tls",
                  **ok) == 3  # fmt: skip
    assert sample(destination, "istio_requests_total", response_code="404") == 1
    name = "istio_request_duration_milliseconds_bucket{"
    buckets = [x for x in source.splitlines() if x.startswith(name) and '_code="200"' in x]
    assert [re.search(r'le="([^"]+)"', x)[1] for x in buckets] == [  # type: ignore[index]
        *(f"{b:g}" for b in BUCKETS),
        "+Inf",
    ]
    assert buckets[-1].endswith(" 3")
    assert sample(source, "istio_response_bytes_count", response_code="200") == 3
    assert sample(source, "istio_request_bytes_sum", response_code="200") > 0  # type: ignore[operator]


async def test_metrics_reach_the_collector_with_exemplars_of_sampled_requests(
    start_pair: StartPair, sink: OtlpSink
) -> None:
    a, _ = await start_pair(sampling_percent=100.0)
    await send(a)
    await eventually(lambda: len(sink.spans) == 2, "spans")

    def duration_points() -> list[object]:
        return [
            p for m in sink.metrics if m.name == "istio_request_duration_milliseconds"
            for p in m.histogram.data_points if p.exemplars
        ]  # fmt: skip

    await eventually(lambda: len(duration_points()) >= 2, "duration points with exemplars")
    requests = [m for m in sink.metrics if m.name == "istio_requests_total"]
    assert requests[0].sum.is_monotonic and requests[0].sum.aggregation_temporality == 2
    reporters = {attrs(p.attributes)["reporter"] for m in requests for p in m.sum.data_points}
    assert reporters == {"source", "destination"}
    trace_ids = {s.trace_id for _, s in sink.spans}
    exemplar_ids = {p.exemplars[0].trace_id for p in duration_points()}  # type: ignore[attr-defined]
    assert exemplar_ids == trace_ids
    units = {m.name: m.unit for m in sink.metrics}
    assert units["istio_request_duration_milliseconds"] == "ms"
    assert units["istio_request_bytes"] == units["istio_response_bytes"] == "By"
    assert sink.content_types == {"application/x-protobuf"}


async def test_access_log_lines_in_istio_text_format_and_as_otlp_records(
    start_pair: StartPair, sink: OtlpSink
) -> None:
    a, _ = await start_pair(sampling_percent=100.0, access_log_otlp=True)
    await send(a, b"/items", user_agent="probe/1")
    await eventually(lambda: len(sink.logs) == 2, "a log record from each side")
    spans = {s.span_id: s for _, s in sink.spans}
    for record in sink.logs:  # each record in its exchange's span
        assert record.span_id in spans and spans[record.span_id].trace_id == record.trace_id
    outbound_line = next(
        r.body.string_value for r in sink.logs if " server - -" in r.body.string_value
    )
    assert TEXT_LOG.match(outbound_line), outbound_line


async def test_by_default_access_logs_go_to_stdout_only(
    start_pair: StartPair, sink: OtlpSink, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = await start_pair(sampling_percent=100.0)
    await send(a, b"/items", user_agent="probe/1")
    await eventually(lambda: len(sink.spans) == 2, "a span from each side")
    await b.shutdown()
    await a.shutdown()  # flushes stdout, and would post any log record left
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("[")]
    assert len(lines) == 2 and any(TEXT_LOG.match(x) for x in lines), lines  # one per side
    assert sink.logs == []  # the OTLP copy is opt-in (access_log_otlp)


async def test_access_logs_in_json_and_errors_only(
    start_pair: StartPair, sink: OtlpSink, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = await start_pair(access_log_format="json", access_log="errors", access_log_otlp=True)
    await send(a, b"/items")
    await send(a, b"/status/500")
    await eventually(lambda: len(sink.logs) == 2, "the error's two records")
    assert b.telemetry is not None
    await b.shutdown()
    await a.shutdown()  # flushes stdout
    entries = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [e["response_code"] for e in entries] == [500, 500]  # the 200 is not an error
    assert set(entries[0]) >= {"start_time", "method", "path", "protocol", "response_flags",
                               "bytes_received", "bytes_sent", "duration", "request_id",
                               "authority", "upstream_host", "upstream_cluster"}  # fmt: skip
    assert entries[0]["path"] == "/status/500" and entries[0]["response_flags"] is None


async def test_with_the_collector_down_requests_pass_and_drops_are_counted(
    start_pair: StartPair,
) -> None:
    a, _ = await start_pair(otlp_endpoint=f"http://127.0.0.1:{closed_port()}")
    for _ in range(20):
        assert (await send(a)).status == 200
    dropped = 0.0

    async def check() -> None:
        nonlocal dropped
        text = await scrape(a)
        dropped = sample(text, "glassmesh_sidecar_telemetry_dropped_total", signal="traces",
                         reason="export_failed") or 0.0  # fmt: skip

    for _ in range(200):
        await check()
        if dropped >= 20:
            break
        await asyncio.sleep(0.02)
    assert dropped >= 20  # every span of the 20 requests, none silently lost
    assert sample(await scrape(a), "istio_requests_total", response_code="200") == 20
