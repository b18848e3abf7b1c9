"""Generated traces for the bottleneck scenarios: a call tree described once, emitted many
times with seeded jitter, optional clock skew per service, retries, failures and lost spans."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from collector.analysis.tree import KIND_CLIENT, KIND_SERVER, SpanTuple

MS = 1_000_000
T0 = 1_800_000_000 * 10**9


@dataclass
class Node:
    """A SERVER span of ``service`` doing ``work_ms`` of its own (half before its calls, half
    after) and making ``calls``, one after another or all at once."""

    service: str
    op: str
    work_ms: float = 2.0
    calls: list[Call] = field(default_factory=list)
    parallel: bool = False
    gap_ms: float = 0.2  # own time between two sequential calls
    fail_rate: float = 0.0  # the span fails on its own (an error origin)
    slow_rate: float = 1.0  # share of requests that pay ``extra_ms``
    extra_ms: float = 0.0


@dataclass
class Call:
    """A CLIENT span from the caller to ``to`` (``net_ms`` of network and mesh around it),
    repeated ``times``; ``failed_attempts`` failed tries of ``failed_ms`` come first."""

    to: Node
    net_ms: float = 0.4
    times: int = 1
    failed_attempts: int = 0
    failed_ms: float = 0.0
    server: bool = True  # False: the peer sends no spans (a database)


@dataclass
class Workload:
    root: Node
    traces: int = 120
    skew_ms: dict[str, float] = field(default_factory=dict)  # host clock offsets
    unreported: frozenset[str] = frozenset()  # services whose spans never arrive
    seed: int = 7


class _Emitter:
    def __init__(self, workload: Workload, rng: random.Random) -> None:
        self.w = workload
        self.rng = rng
        self.spans: list[SpanTuple] = []
        self.ids = 0

    def jitter(self, ms: float) -> int:
        return int(ms * MS * self.rng.uniform(0.9, 1.1))

    def next_id(self) -> bytes:
        self.ids += 1
        return self.ids.to_bytes(8, "big")

    def emit(self, span: SpanTuple) -> None:
        """Records ``span`` as its host's clock sees it, unless its service sends nothing."""
        sid, parent, service, name, kind, start, end, failed = span
        if service not in self.w.unreported:
            skew = int(self.w.skew_ms.get(service, 0.0) * MS)
            self.spans.append((sid, parent, service, name, kind, start + skew, end + skew, failed))

    def server(self, node: Node, parent: bytes, start: int) -> tuple[int, bool]:
        """Emits ``node`` and its calls from ``start``; (end, failed)."""
        sid = self.next_id()
        t = start + self.jitter(node.work_ms / 2)
        if node.extra_ms and self.rng.random() < node.slow_rate:
            t += self.jitter(node.extra_ms)
        failed = self.rng.random() < node.fail_rate
        ends = []
        for call in node.calls:
            end, call_failed = self.call(node.service, call, sid, t)
            failed = failed or call_failed
            ends.append(end)
            if not node.parallel:
                t = end + self.jitter(node.gap_ms)
        t = max([t, *ends]) + self.jitter(node.work_ms / 2)
        self.emit((sid, parent, node.service, node.op, KIND_SERVER, start, t, failed))
        return t, failed

    def call(self, caller: str, call: Call, parent: bytes, start: int) -> tuple[int, bool]:
        t, end, failed = start, start, False
        for n in range(call.failed_attempts + call.times):
            trying = n < call.failed_attempts
            cid = self.next_id()
            half = self.jitter(call.net_ms / 2)
            if trying:
                end = t + half * 2 + self.jitter(call.failed_ms)
                to = call.to
                self.emit((self.next_id(), cid, to.service, to.op, KIND_SERVER, t + half,
                           end - half, True))  # fmt: skip
                failed = True
            elif call.server:
                end, failed = self.server(call.to, cid, t + half)
                end += half
            else:
                end, failed = t + self.jitter(call.to.work_ms), False
            name = f"call {call.to.service} {call.to.op}"
            self.emit((cid, parent, caller, name, KIND_CLIENT, t, end, failed))
            t = end + self.jitter(0.1)
        return end, failed


def generate(workload: Workload) -> list[tuple[bytes, list[SpanTuple]]]:
    """``workload.traces`` traces as (trace id, spans), spans in no particular order."""
    rng = random.Random(workload.seed)
    traces = []
    for n in range(workload.traces):
        emitter = _Emitter(workload, rng)
        emitter.server(workload.root, b"", T0 + n * 1000 * MS)
        rng.shuffle(emitter.spans)
        traces.append((rng.randbytes(16), emitter.spans))
    return traces
