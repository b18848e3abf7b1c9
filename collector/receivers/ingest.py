"""What both receivers do with a decoded request: validate, count, hand to the pipelines.

The outcome says how to answer: ``ok`` (200 / OK, maybe with a partial success), ``refused``
(429/503 / RESOURCE_EXHAUSTED/UNAVAILABLE with a retry delay) or ``bad`` (400 /
INVALID_ARGUMENT). Nothing here raises for untrusted input.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from google.protobuf.message import Message

from collector.otlp import validate
from collector.otlp.signals import Signal
from collector.otlp.spanbatch import SpanBatch
from collector.pipeline.consumer import Refused
from collector.pipeline.pipeline import Pipelines
from collector.storage.api import StorageError
from collector.telemetry import SelfMetrics

log = logging.getLogger("glassmesh.collector.receivers")


@dataclass(frozen=True)
class Outcome:
    kind: str  # "ok" | "refused" | "bad"
    response: Message | None = None
    message: str = ""
    retry_after_s: float = 0.0
    throttled: bool = False  # refused because a queue is full (429) rather than unavailable


def count_items(signal: Signal, request: Message) -> int:
    """Spans, data points or log records in a request."""
    total = 0
    for resource in getattr(request, signal.resources_field):
        if signal.name == "traces":
            total += sum(len(s.spans) for s in resource.scope_spans)
        elif signal.name == "logs":
            total += sum(len(s.log_records) for s in resource.scope_logs)
        else:
            total += sum(_points(m) for s in resource.scope_metrics for m in s.metrics)
    return total


def _points(metric: Message) -> int:
    kind = metric.WhichOneof("data")
    return len(getattr(metric, kind).data_points) if kind else 0


async def ingest(
    signal: Signal,
    request: Message,
    pipelines: Pipelines,
    metrics: SelfMetrics,
    transport: str,
    *,
    raw: bytes | None = None,
) -> Outcome:
    """Validate and consume ``request``; wait until it is durable. ``raw`` is the request's
    protobuf encoding when the caller has it (storage and forwarding reuse it as is)."""
    batch = getattr(request, signal.resources_field)
    rejected: Counter[str] = Counter()
    spans: SpanBatch | None = None
    if signal.name == "traces":
        spans = SpanBatch.read(batch, raw)
        rejected = spans.rejected
        total = spans.spans + sum(rejected.values())
    else:
        total = count_items(signal, request)
        if signal.name == "logs":
            rejected = validate.check_logs(batch)
    metrics.add("received_items_total", total, signal=signal.name, transport=transport)
    for reason, n in rejected.items():
        metrics.add("rejected_items_total", n, signal=signal.name, reason=reason)
    accepted = total - sum(rejected.values())
    try:
        if spans is not None:
            pipelines.consume_spans(spans)
        else:
            pipelines.consume(signal.name, batch, None if rejected else raw)
        await pipelines.durable(signal.name)
    except Refused as exc:
        metrics.add("refused_items_total", accepted, signal=signal.name, reason=exc.reason)
        if exc.permanent:
            return Outcome("bad", message=f"refused: {exc.reason}")
        throttled = exc.reason.endswith("_full")
        return Outcome("refused", None, f"refused: {exc.reason}", exc.retry_after_s, throttled)
    except StorageError as exc:
        metrics.add("refused_items_total", accepted, signal=signal.name, reason="storage_error")
        return Outcome("refused", message=str(exc), retry_after_s=5.0)
    message = validate.describe(rejected, signal.item)
    return Outcome("ok", signal.response_message(sum(rejected.values()), message))
