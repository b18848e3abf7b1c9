"""Completed traces analysed per second by the analysis connector, incrementally, on one core.

``python -m bench.analysis`` builds OTLP batches of 20-span traces shaped like the mesh's
(frontend -> checkout -> cart, inventory with three database calls, payment -> bank, shipping
-> two carriers, with jittered timings, one trace in fifty failing) in chunks of
``--chunk`` traces, reads each chunk once into a ``SpanBatch`` as the receiver does (untimed:
storage and every connector share it), then times what the analysis adds: the connector's
``consume_spans`` (grouping spans by trace, naming operations) and the sweep that hands each
trace, once quiet, to the analyser (tree, critical path, patterns, facts). The figure is the
total time for ``--traces`` traces (issue 7's budget: 100,000 traces of 20 spans in 30 s), and
the cost per trace in the first and the last tenth of the run: equal costs mean a new trace
costs work proportional to its size, not to the window it joins. Times are the process's CPU
time (other work on a shared machine does not count); the wall time is in the JSON too.
Output: a line on stdout and bench/out/analysis.json.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

from bench.ca import pin_to_one_core
from bench.report import write_json
from collector.connectors.analysis import AnalysisConfig, AnalysisConnector
from collector.otlp.spanbatch import SpanBatch
from collector.service import GC_THRESHOLD

BUDGET_S = 30.0
OUT = Path(__file__).resolve().parent / "out" / "analysis.json"
MS = 1_000_000
SERVER, CLIENT = Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT
Plan = tuple[str, float, tuple[Any, ...]]  # callee, own ms, its calls (plans, or ("db",))
DB: Plan = ("db", 0.0, ())
SHOP: Plan = ("checkout", 2.0, (
    ("cart", 3.0, ()),
    ("inventory", 2.0, (DB, DB, DB)),
    ("payment", 4.0, (("bank", 6.0, ()),)),
    ("shipping", 2.0, (("carrier-a", 3.0, ()), ("carrier-b", 3.0, ()))),
))  # fmt: skip  # with frontend's root span: 20 spans


class _Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class _Trace:
    """Builds one trace's spans into per-service lists."""

    def __init__(self, n: int, rng: random.Random, by_service: dict[str, list[Span]]) -> None:
        self.trace_id = rng.randbytes(16)
        self.rng = rng
        self.by_service = by_service
        self.ids = n * 64
        self.failing = n % 50 == 0

    def span(self, service: str, name: str, kind: int, parent: bytes, start: int,  # noqa: PLR0917
             end: int) -> bytes:  # fmt: skip
        self.ids += 1
        sid = self.ids.to_bytes(8, "big")
        s = Span(trace_id=self.trace_id, span_id=sid, parent_span_id=parent, name=name,
                 kind=kind, start_time_unix_nano=start, end_time_unix_nano=end)  # type: ignore[arg-type]  # fmt: skip
        path = AnyValue(string_value=f"/{service}/{self.ids % 1000}")  # an id in every path
        s.attributes.append(KeyValue(key="url.path", value=path))
        if self.failing and service == "bank":
            s.status.code = Status.STATUS_CODE_ERROR
        self.by_service.setdefault(service, []).append(s)
        return sid

    def ms(self, base: float) -> int:
        return int(base * MS * self.rng.uniform(0.8, 1.25))

    def call(self, caller: str, plan: Plan, parent: bytes, start: int) -> int:
        """A CLIENT span of caller, the SERVER span of the plan's callee and its own calls."""
        callee, work, inner = plan
        client = self.span(caller, "GET", CLIENT, parent, start, 0)
        t = server_start = start + self.ms(0.3)
        t += self.ms(work)
        server = self.span(callee, "GET", SERVER, client, server_start, 0)
        for step in inner:
            t = self.db(server, t) if step[0] == "db" else self.call(callee, step, server, t)
        end = t + self.ms(work / 2)
        self._finish(callee, server, end)
        self._finish(caller, client, end + self.ms(0.3))
        return end + self.ms(0.3)

    def db(self, parent: bytes, start: int) -> int:
        end = start + self.ms(1.5)
        self.span("inventory", "SELECT", CLIENT, parent, start, end)
        return end

    def _finish(self, service: str, sid: bytes, end: int) -> None:
        for s in reversed(self.by_service[service]):
            if s.span_id == sid:
                s.end_time_unix_nano = end
                return


def _build(first: int, count: int, rng: random.Random) -> list[ResourceSpans]:
    """``count`` traces of exactly 20 spans as one OTLP batch, a ResourceSpans per service."""
    by_service: dict[str, list[Span]] = {}
    t0 = 1_700_000_000 * 10**9
    for n in range(first, first + count):
        trace = _Trace(n, rng, by_service)
        start = t0 + n * 10 * MS
        root = trace.span("frontend", "GET", SERVER, b"", start, 0)
        t = trace.call("frontend", SHOP, root, start + trace.ms(1))
        trace._finish("frontend", root, t + trace.ms(1))
    batch = []
    for service, spans in by_service.items():
        rs = ResourceSpans()
        rs.resource.attributes.append(KeyValue(key="service.name",
                                               value=AnyValue(string_value=service)))  # fmt: skip
        rs.scope_spans.add().spans.extend(spans)
        batch.append(rs)
    return batch


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.traces < 10 or args.chunk < 1:
        print("bench.analysis: --traces must be at least 10, --chunk at least 1", file=sys.stderr)
        return 2
    core = "unpinned" if args.no_pin else pin_to_one_core()
    document = run(args.traces, args.chunk, core)
    write_json(args.out, document)
    _print(document)
    return 0 if document["within_budget"] else 1


def run(traces: int, chunk: int, core: str) -> dict[str, Any]:
    """Feeds ``traces`` traces through the connector; the timings as a JSON document."""
    clock = _Clock()
    connector = AnalysisConnector(AnalysisConfig(idle_s=1.0), clock=clock)
    gc.freeze()  # as the collector process does (collector.service): start-up objects out,
    gc.set_threshold(GC_THRESHOLD, 20, 20)  # and a first-generation pass every 50k allocations
    rng = random.Random(7)
    timed = wall = 0.0
    spans = 0
    per_chunk: list[tuple[int, float]] = []
    for first in range(0, traces, chunk):
        count = min(chunk, traces - first)
        batch = SpanBatch.read(_build(first, count, rng), check=False)
        spans += batch.spans
        began, began_wall = time.process_time(), time.perf_counter()
        connector.consume_spans(batch)
        clock.now += 2.0
        done = connector.sweep()
        elapsed = time.process_time() - began
        wall += time.perf_counter() - began_wall
        timed += elapsed
        per_chunk.append((done, elapsed))
    tenth = max(1, len(per_chunk) // 10)
    first_us = _per_trace_us(per_chunk[:tenth])
    last_us = _per_trace_us(per_chunk[-tenth:])
    return {
        "traces": traces,
        "spans": spans,
        "spans_per_trace": spans / traces,
        "analysed": connector.analyzer.analysed,
        "seconds": round(timed, 3),  # CPU time of this (one-core) process
        "wall_seconds": round(wall, 3),
        "budget_seconds": BUDGET_S * traces / 100_000,
        "within_budget": timed <= BUDGET_S * traces / 100_000,
        "us_per_trace": round(timed / traces * 1e6, 1),
        "us_per_trace_first_tenth": first_us,
        "us_per_trace_last_tenth": last_us,
        "last_over_first": round(last_us / first_us, 3) if first_us else None,
        "us_per_trace_by_tenth": [
            _per_trace_us(per_chunk[n * tenth : (n + 1) * tenth]) for n in range(10)
        ],
        "core": core,
    }


def _per_trace_us(chunks: list[tuple[int, float]]) -> float:
    done = sum(d for d, _ in chunks)
    return round(sum(e for _, e in chunks) / max(1, done) * 1e6, 1)


def _print(doc: dict[str, Any]) -> None:
    print(
        f"analysis: {doc['traces']:,} traces of {doc['spans_per_trace']:.0f} spans in "
        f"{doc['seconds']:.1f} s of CPU ({doc['wall_seconds']:.1f} s wall) on core {doc['core']}"
        f" (budget {doc['budget_seconds']:.0f} s): {doc['us_per_trace']:.0f} us a trace; first"
        f" tenth {doc['us_per_trace_first_tenth']:.0f} us, last tenth "
        f"{doc['us_per_trace_last_tenth']:.0f} us (x{doc['last_over_first']})"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.analysis", description=__doc__)
    parser.add_argument("--traces", type=int, default=100_000, help="traces (100,000)")
    parser.add_argument("--chunk", type=int, default=1000, help="traces per batch (1000)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"JSON output (default {OUT})")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    return parser


if __name__ == "__main__":
    sys.exit(main())
