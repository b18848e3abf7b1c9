"""Spans/s through the service-graph and span-metrics connectors, against a do-nothing baseline.

``python -m bench.connectors`` builds OTLP batches shaped like the mesh's (per request: a server
span and a client span on each sidecar hop, a database call on the last one, ~8 attributes a
span, W3C tracestate with a sampling threshold on half of the traces) and reads each once into
a ``SpanBatch``, as the receiver does (storage and both connectors share that read). Then it
times, per round, what the pipeline runs: iterating every span's row doing nothing (the
baseline), the service-graph connector's and the span-metrics connector's ``consume_spans``,
and both; plus ``read``, the receiver's one ``SpanBatch.read`` of the protobuf batch. The figure
is the median round's microseconds per span each adds over the baseline, against a budget of
3 µs for both connectors (the collector's 100,000 spans/s on one core leaves 10 µs a span for
everything). Output: a table on stdout and bench/out/connectors.json.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import ResourceMetrics
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span

from bench.ca import pin_to_one_core
from bench.report import ratio, write_json
from collector.connectors.servicegraph import ServiceGraphConfig, ServiceGraphConnector
from collector.connectors.spanmetrics import SpanMetricsConfig, SpanMetricsConnector
from collector.otlp.spanbatch import SpanBatch

BUDGET_US = 3.0
OUT = Path(__file__).resolve().parent / "out" / "connectors.json"
SERVICES = ("frontend", "checkout", "cart", "payment", "shipping")
Batch = list[ResourceSpans]
Consume = Callable[[SpanBatch], None]


def _attrs(**values: str | int) -> list[KeyValue]:
    out = []
    for key, value in values.items():
        any_value = (
            AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
        )
        out.append(KeyValue(key=key.replace("_", "."), value=any_value))
    return out


def _span(trace: int, span: int, parent: int, kind: int, name: str) -> Span:
    start = 1_700_000_000_000_000_000 + trace * 1000
    return Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=span.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        trace_state="ot=th:8" if trace % 2 else "",
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=start,
        end_time_unix_nano=start + 1_000_000 + (trace % 97) * 250_000,
        attributes=_attrs(
            http_request_method="GET",
            url_path=f"/{name}",
            http_response_status_code=200 if trace % 50 else 503,
            server_address=f"{name}.default.svc",
            network_peer_address="10.0.0.7",
            user_agent_original="python-requests/2.32",
            upstream_cluster=f"outbound|80||{name}.default.svc",
            response_flags="-",
        ),
    )


def make_batches(spans: int, per_batch: int = 512) -> list[Batch]:
    """Batches of about ``per_batch`` spans, one ResourceSpans per service, ``spans`` in all."""
    by_service: dict[str, list[Span]] = {s: [] for s in SERVICES}
    batches: list[Batch] = []
    trace, made = 0, 0
    while made < spans:
        trace += 1
        ids = iter(range(1, 100))
        parent = 0
        for caller, callee in itertools.pairwise(SERVICES):
            server_id, client_id = next(ids), next(ids)
            by_service[caller].append(
                _span(trace, server_id, parent, Span.SPAN_KIND_SERVER, caller)
            )
            by_service[caller].append(
                _span(trace, client_id, server_id, Span.SPAN_KIND_CLIENT, callee)
            )
            parent = client_id
        db = _span(trace, next(ids), parent, Span.SPAN_KIND_CLIENT, "SELECT")
        db.attributes.append(KeyValue(key="db.system", value=AnyValue(string_value="postgresql")))
        by_service[SERVICES[-1]].extend(
            [_span(trace, 99, parent, Span.SPAN_KIND_SERVER, "last"), db]
        )
        made += 2 * (len(SERVICES) - 1) + 2
        if sum(len(v) for v in by_service.values()) >= per_batch or made >= spans:
            # Every other batch lists the callees first: their server halves arrive first.
            order = SERVICES if len(batches) % 2 else SERVICES[::-1]
            batches.append(
                [_resource(name, by_service[name]) for name in order if by_service[name]]
            )
            by_service = {s: [] for s in SERVICES}
    return batches


def _resource(service: str, spans: list[Span]) -> ResourceSpans:
    resource = Resource(attributes=_attrs(service_name=service, service_namespace="default"))
    out = ResourceSpans(resource=resource)
    out.scope_spans.add().spans.extend(spans)
    return out


def count_spans(batches: Sequence[Batch]) -> int:
    """Spans in ``batches``."""
    return sum(len(ss.spans) for b in batches for rs in b for ss in rs.scope_spans)


def read_batches(batches: Sequence[Batch]) -> list[SpanBatch]:
    """Each batch read once, validated, as the receiver hands it to the pipeline."""
    return [SpanBatch.read(batch) for batch in batches]


def baseline(batch: SpanBatch) -> None:
    """Touches every span's row and does nothing: the cost of the loop itself."""
    for group in batch.groups:
        for _ in group.rows:
            pass


def read(batch: SpanBatch) -> None:
    """The receiver's read of the protobuf batch (once a request, shared by every consumer)."""
    SpanBatch.read(batch.resources)


class _Null:
    def consume_metrics(self, batch: Sequence[ResourceMetrics]) -> None:
        """Takes the connectors' metrics and drops them."""


def consumers() -> dict[str, Consume]:
    """The runs timed each round, by name, each with fresh connectors and a fake clock."""
    ticks = iter(range(1_700_000_000, 1 << 62))

    def clock() -> float:
        return float(next(ticks)) / 100  # 10 ms a batch: halves pair, a few expire

    graph = ServiceGraphConnector(ServiceGraphConfig(), _Null(), clock)
    spans = SpanMetricsConnector(SpanMetricsConfig(), _Null(), clock)
    graph2 = ServiceGraphConnector(ServiceGraphConfig(), _Null(), clock)
    spans2 = SpanMetricsConnector(SpanMetricsConfig(), _Null(), clock)

    def both(batch: SpanBatch) -> None:
        graph2.consume_spans(batch)
        spans2.consume_spans(batch)

    return {
        "baseline": baseline,
        "read": read,
        "servicegraph": graph.consume_spans,
        "spanmetrics": spans.consume_spans,
        "both": both,
    }


def time_run(consume: Consume, batches: Sequence[SpanBatch], clock: Callable[[], float]) -> float:
    """Seconds ``clock`` measures for feeding every batch to ``consume`` once."""
    start = clock()
    for batch in batches:
        consume(batch)
    return clock() - start


def build_report(spans: int, rounds: Sequence[dict[str, float]], core: str) -> dict[str, Any]:
    """Median seconds per run, spans/s and µs a span over the baseline; ratio to the budget."""
    median = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
    base = median["baseline"]
    runs = {
        name: {
            "spans_per_s": round(spans / s, 1) if s > 0 else None,
            "added_us_per_span": round(max(s - base, 0.0) / spans * 1e6, 3),
        }
        for name, s in median.items()
    }
    both_us = runs["both"]["added_us_per_span"]
    return {
        "spans": spans,
        "runs": runs,
        "budget_us_per_span": BUDGET_US,
        "ratio": _round(ratio(both_us, BUDGET_US)),
        "rounds": [{k: round(v, 4) for k, v in r.items()} for r in rounds],
        "core": core,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def table(report: dict[str, Any]) -> str:
    """The report as a small table for the terminal."""
    lines = [f"{'run':<14}{'spans/s':>14}{'µs/span added':>16}"]
    for name, run in report["runs"].items():
        lines.append(f"{name:<14}{run['spans_per_s']:>14,.0f}{run['added_us_per_span']:>16.3f}")
    shown = "n/a" if report["ratio"] is None else f"{report['ratio']:.2f}"
    lines.append(f"both connectors vs budget {report['budget_us_per_span']} µs/span: ratio {shown}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.connectors", description=__doc__)
    parser.add_argument("-n", "--spans", type=int, default=200_000, help="spans a round (200000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (3)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"JSON output (default {OUT})")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and write the JSON; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.spans < 1 or args.rounds < 1:
        print("bench.connectors: --spans and --rounds must be at least 1", file=sys.stderr)
        return 2
    core = "unpinned" if args.no_pin else pin_to_one_core()
    raw = make_batches(args.spans)
    spans = count_spans(raw)
    batches = read_batches(raw)
    rounds = []
    for _ in range(args.rounds):
        runs = consumers()  # fresh connectors: every round starts from an empty store
        rounds.append(
            {name: time_run(run, batches, time.perf_counter) for name, run in runs.items()}
        )
    report = build_report(spans, rounds, core)
    write_json(args.out, report)
    print(f"{table(report)}\n-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
