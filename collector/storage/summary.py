"""What one pass over a stored batch learns: its trace ids and, per service, the start range
and per span name the duration range and the kinds and statuses seen (compiled with mypyc: it
runs over every ingested span, in the writer thread)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs

from collector.otlp.spanbatch import Row, SpanBatch

ERROR_BIT, OK_BIT = 1 << 8, 1 << 9  # Op flags beside the span-kind bits (1 << kind)
Op = tuple[int, int, int]  # min duration ns, max duration ns, flags
# service -> (min start, max start, span name -> Op); ops None for segments stored before ops
# were summarised (they may match any operation, duration or tag).
Services = dict[str, tuple[int, int, dict[str, Op] | None]]


@dataclass
class Summary:
    """What one pass over a batch learns (writer thread)."""

    trace_ids: set[bytes] = field(default_factory=set)
    services: Services = field(default_factory=dict)

    def operations(self) -> set[tuple[str, str, int]]:
        """(service, span name, kind) seen."""
        return {
            (service, name, kind)
            for service, (_, _, ops) in self.services.items()
            for name, (_, _, flags) in (ops or {}).items()
            for kind in range(6)
            if flags & (1 << kind)
        }


def summarize_spans(batch: SpanBatch) -> Summary:
    summary = Summary()
    ids = summary.trace_ids
    for group in batch.groups:
        rows = group.rows
        if not rows:
            continue
        service = group.stored_service
        ids.update([r[0] for r in rows])
        low, high, ops = summary.services.get(service, (2**63, 0, {}))
        starts = [r[5] for r in rows]
        low, high = min(low, *starts), max(high, *starts)
        summary.services[service] = (low, high, _ops(rows, ops or {}))
    return summary


def _ops(rows: list[Row], ops: dict[str, Op]) -> dict[str, Op]:
    """Fold ``rows`` into per-name duration ranges and kind/status flags."""
    acc: dict[str, list[int]] = {k: list(v) for k, v in ops.items()}
    for row in rows:
        duration = row[6] - row[5]
        flags = (1 << row[4]) | (ERROR_BIT if row[7] == 2 else OK_BIT if row[7] == 1 else 0)
        entry = acc.get(row[3])
        if entry is None:
            acc[row[3]] = [duration, duration, flags]
            continue
        if duration < entry[0]:
            entry[0] = duration
        elif duration > entry[1]:
            entry[1] = duration
        entry[2] |= flags
    return {k: (v[0], v[1], v[2]) for k, v in acc.items()}


def summarize_logs(batch: Sequence[ResourceLogs]) -> Summary:
    summary = Summary()
    for rl in batch:
        for sl in rl.scope_logs:
            summary.trace_ids.update(r.trace_id for r in sl.log_records if r.trace_id)
    return summary
