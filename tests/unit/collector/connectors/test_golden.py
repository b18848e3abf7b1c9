"""Golden service graphs: OpenTelemetry SDK spans in, exact graph JSON and metric totals out.

Regenerate after an intended change with
``GLASSMESH_REGEN_GOLDEN=1 .venv/bin/pytest tests/unit/collector/connectors/test_golden.py``
and review the diff of tests/golden/servicegraph/.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, set_span_in_context

from collector.connectors.config import ServiceGraphConfig
from collector.connectors.servicegraph import ServiceGraphConnector
from collector.query.graph import graph_json
from tests.unit.collector.connectors.fakes import T0, Clock, Sink, points

GOLDEN = Path(__file__).resolve().parents[3] / "golden" / "servicegraph"
NS = 1_000_000_000


def call(src: Tracer, dst: Tracer, name: str, parent: Any, t: int) -> tuple[Any, Any]:
    """A client span on ``src`` and its server span on ``dst``, both started at ``t``."""
    client = src.start_span(f"call {name}", parent, SpanKind.CLIENT, start_time=t)
    server = dst.start_span(name, set_span_in_context(client), SpanKind.SERVER, start_time=t + 1000)
    return client, server


def shop_traces() -> list[ReadableSpan]:
    """A browser call through frontend -> checkout -> (cart -> redis, payment -> stripe), a
    failed payment, and a queue hand-off to a mailer, with fixed timings."""
    exporter = InMemorySpanExporter()

    def tracer(service: str) -> Tracer:
        provider = TracerProvider(
            resource=Resource.create({"service.name": service, "service.namespace": "shop"})
        )
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider.get_tracer("golden")

    front, checkout, cart, payment, mailer = map(
        tracer, ("frontend", "checkout", "cart", "payment", "mailer")
    )
    start = int(T0 * NS)
    for i, failed in enumerate((False, False, True)):
        t = start + i * 10 * NS

        root = front.start_span("GET /", None, SpanKind.SERVER, start_time=t)
        ctx = set_span_in_context(root)
        c1, s1 = call(front, checkout, "POST /checkout", ctx, t)
        c2, s2 = call(checkout, cart, "GET /cart", set_span_in_context(s1), t)
        db = cart.start_span(
            "GET",
            set_span_in_context(s2),
            SpanKind.CLIENT,
            start_time=t,
            attributes={"db.system": "redis"},
        )
        db.end(t + 2_000_000)
        c3, s3 = call(checkout, payment, "POST /pay", set_span_in_context(s1), t)
        ext = payment.start_span(
            "POST",
            set_span_in_context(s3),
            SpanKind.CLIENT,
            start_time=t,
            attributes={"server.address": "api.stripe.com"},
        )
        if failed:
            ext.set_status(Status(StatusCode.ERROR))
            s3.set_status(Status(StatusCode.ERROR))
        ext.end(t + 90_000_000)
        prod = checkout.start_span(
            "send mail", set_span_in_context(s1), SpanKind.PRODUCER, start_time=t
        )
        cons = mailer.start_span(
            "receive mail", set_span_in_context(prod), SpanKind.CONSUMER, start_time=t + 5_000_000
        )
        for s, ms in (
            (cons, 20),
            (prod, 1),
            (s3, 110),
            (c3, 120),
            (s2, 40),
            (c2, 50),
            (s1, 280),
            (c1, 300),
            (root, 320),
        ):
            s.end(t + ms * 1_000_000)
    return list(exporter.get_finished_spans())


def render() -> dict[str, Any]:
    clock, sink = Clock(), Sink()
    graph = ServiceGraphConnector(ServiceGraphConfig(), sink, clock)
    graph.consume_traces(encode_spans(shop_traces()).resource_spans)
    clock.advance(60)  # every lone half has expired
    graph.flush()
    metrics = sink.last()
    totals = {
        name: {"|".join(v for _, v in labels): value for labels, value in points(m).items()}
        for name, m in sorted(metrics.items())
        if m.HasField("sum")
    }
    return {"graph": graph_json(graph.graph(600)), "metrics": totals}


def test_the_shop_graph_matches_its_golden_file() -> None:
    path = GOLDEN / "shop.json"
    got = json.dumps(render(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("GLASSMESH_REGEN_GOLDEN"):
        path.write_text(got)
    assert got == path.read_text()
