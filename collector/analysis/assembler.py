"""Spans buffered per trace until the trace goes quiet: a trace is complete once no span of it
has arrived for ``idle_s`` (Tempo and the OpenTelemetry tail sampler wait the same way).

Traces are kept in the order of their last span, so finding the complete ones walks only those
that are due. Every bound drops and counts: spans past ``max_spans`` in total or
``max_trace_spans`` in one trace, and late spans of a trace already handed out (remembered for
the last ``remember`` traces).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator, Sequence

from collector.analysis.tree import SpanTuple

Pending = tuple[float, list[SpanTuple]]  # (last span seen at, spans)


class Assembler:
    """Not thread-safe; never blocks."""

    def __init__(
        self, idle_s: float, max_spans: int, max_trace_spans: int, remember: int = 50_000
    ) -> None:
        self.idle_s = idle_s
        self.max_spans = max_spans
        self.max_trace_spans = max_trace_spans
        self.spans = 0  # buffered now
        self.dropped: Counter[str] = Counter()  # spans, by reason
        self._pending: dict[bytes, Pending] = {}
        self._done: set[bytes] = set()
        self._done_order: deque[bytes] = deque(maxlen=remember)

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, trace_id: bytes, spans: Sequence[SpanTuple], now: float) -> None:
        """Buffers ``spans`` of one trace (cost proportional to ``spans``)."""
        if trace_id in self._done:
            self.dropped["late"] += len(spans)
            return
        _, buffered = self._pending.pop(trace_id, (now, []))
        room = min(self.max_trace_spans - len(buffered), self.max_spans - self.spans)
        taken = spans if room >= len(spans) else spans[: max(0, room)]
        if len(taken) < len(spans):
            full = room == self.max_trace_spans - len(buffered)
            self.dropped["trace_too_large" if full else "buffer_full"] += len(spans) - len(taken)
        buffered.extend(taken)
        self.spans += len(taken)
        if buffered:
            self._pending[trace_id] = (now, buffered)

    def due(self, now: float) -> Iterator[tuple[bytes, list[SpanTuple]]]:
        """Hands out (trace id, spans) of every trace quiet since ``now - idle_s``."""
        pending = self._pending
        while pending:
            trace_id = next(iter(pending))
            seen, spans = pending[trace_id]
            if seen + self.idle_s > now:
                return
            del pending[trace_id]
            yield self._hand_out(trace_id, spans)

    def drain(self) -> Iterator[tuple[bytes, list[SpanTuple]]]:
        """Hands out every buffered trace, complete or not (at shutdown)."""
        while self._pending:
            trace_id, (_, spans) = self._pending.popitem()
            yield self._hand_out(trace_id, spans)

    def _hand_out(self, trace_id: bytes, spans: list[SpanTuple]) -> tuple[bytes, list[SpanTuple]]:
        self.spans -= len(spans)
        if len(self._done_order) == self._done_order.maxlen:
            self._done.discard(self._done_order[0])
        self._done_order.append(trace_id)
        self._done.add(trace_id)
        return trace_id, spans
