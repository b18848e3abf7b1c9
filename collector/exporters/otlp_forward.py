"""Forwarding everything received to another collector over OTLP/HTTP protobuf.

A consumer of all three signals that never blocks ingest: a batch is queued as its request
bytes (the receiver's own when it had them) in a bounded queue; when the queue is full the new
batch is dropped and counted (``dropped_items_total{stage="otlp_forward",reason="queue_full"}``).
One task sends the queue in order: gzip (in a thread, zlib releases the GIL), POST
``<endpoint>/v1/<signal>``; 429/502/503/504 and connection failures are retried with
exponential backoff (``initial_backoff_s`` doubling up to ``max_backoff_s``, jittered x0.8-1.2)
or the peer's ``Retry-After``, until ``max_elapsed_s`` since the first attempt
(``retries_exhausted``); any other answer is permanent (``rejected``). Batches still queued at
shutdown are counted (``shutdown``).
"""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from collector import tasks
from collector.config import OtlpForwardConfig
from collector.otlp import rpc
from collector.otlp.signals import SignalName
from collector.otlp.spanbatch import SpanBatch
from collector.storage.schema import encode_request
from collector.telemetry import SelfMetrics

log = logging.getLogger("glassmesh.collector.otlp_forward")
RETRYABLE = frozenset((429, 502, 503, 504))
STAGE = "otlp_forward"


@dataclass
class _Item:
    signal: SignalName
    body: bytes
    items: int


class OtlpForwarder:
    """A TracesConsumer (``consume_spans``), metrics and logs consumer (``consume_raw``) and
    Component. Every consume method runs on the loop thread, never blocks, never refuses."""

    def __init__(
        self,
        config: OtlpForwardConfig,
        metrics: SelfMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        assert config.endpoint is not None
        self.config = config
        self.base = config.endpoint.rstrip("/")
        self.metrics = metrics
        self._clock, self._sleep, self._jitter = clock, sleep, jitter
        self._queue: deque[_Item] = deque()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._stopped = False
        metrics.counter("forwarded_items_total", "Items forwarded over OTLP, by signal")

    @property
    def queued(self) -> int:
        """Batches waiting to be sent."""
        return len(self._queue)

    def consume_spans(self, batch: SpanBatch) -> None:
        body = batch.raw if batch.raw is not None else encode_request(batch.resources)
        self._enqueue(_Item("traces", body, batch.spans))

    def consume_traces(self, batch: Sequence[Any]) -> None:
        self.consume_spans(SpanBatch.read(batch, check=False))

    def consume_raw(self, signal: SignalName, batch: Sequence[Any], raw: bytes | None) -> None:
        """A metrics or logs batch, with the request's bytes when the receiver had them."""
        body = raw if raw is not None else encode_request(batch)
        self._enqueue(_Item(signal, body, _count(signal, batch)))

    def consume_metrics(self, batch: Sequence[Any]) -> None:
        self.consume_raw("metrics", batch, None)

    def consume_logs(self, batch: Sequence[Any]) -> None:
        self.consume_raw("logs", batch, None)

    def _enqueue(self, item: _Item) -> None:
        if self._stopped or len(self._queue) >= self.config.queue_batches:
            self._drop(item, "shutdown" if self._stopped else "queue_full")
            return
        self._queue.append(item)
        self._ready.set()

    def _drop(self, item: _Item, reason: str) -> None:
        self.metrics.add("dropped_items_total", item.items, stage=STAGE, reason=reason)

    async def start(self) -> None:
        if self._task is None and not self._stopped:
            headers = {"Content-Type": "application/x-protobuf", **self.config.headers}
            if self.config.compression == "gzip":
                headers["Content-Encoding"] = "gzip"
            timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
            self._session = aiohttp.ClientSession(headers=headers, timeout=timeout)
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            while self._queue:
                item = self._queue.popleft()
                await self._deliver(item)
            self._ready.clear()

    async def _deliver(self, item: _Item) -> None:
        body = item.body
        if self.config.compression == "gzip":
            body = await asyncio.to_thread(gzip.compress, body, 1)
        first = self._clock()
        attempt = 0
        while True:
            status, retry_after = await self._post(item.signal, body)
            if 200 <= status < 300:
                self.metrics.add("forwarded_items_total", item.items, signal=item.signal)
                return
            if status and status not in RETRYABLE:
                log.warning("forward of %s refused: HTTP %d", item.signal, status)
                self._drop(item, "rejected")
                return
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            if self._clock() + delay - first > self.config.max_elapsed_s:
                self._drop(item, "retries_exhausted")
                return
            attempt += 1
            await self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        base = min(self.config.initial_backoff_s * 2.0**attempt, self.config.max_backoff_s)
        return base * (0.8 + 0.4 * self._jitter())

    async def _post(self, signal: SignalName, body: bytes) -> tuple[int, float | None]:
        """(status, Retry-After seconds); status 0 for a failed connection or a timeout."""
        assert self._session is not None
        try:
            async with self._session.post(f"{self.base}/v1/{signal}", data=body) as response:
                text = await response.read()
                if response.status >= 400:
                    log.debug("forward answer %d: %s", response.status, rpc.status_message(text))
                return response.status, retry_after_s(response.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.debug("forward to %s failed: %s", self.base, exc)
            return 0, None

    async def shutdown(self) -> None:
        """Stop sending; batches still queued are counted as dropped. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        await tasks.cancel(self._task)
        while self._queue:
            self._drop(self._queue.popleft(), "shutdown")
        if self._session is not None:
            await self._session.close()


def retry_after_s(value: str | None) -> float | None:
    """A Retry-After header (delay seconds or an HTTP date) in seconds; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, float(when.timestamp()) - time.time())


def _count(signal: SignalName, batch: Sequence[Any]) -> int:
    if signal == "logs":
        return sum(len(s.log_records) for r in batch for s in r.scope_logs)
    total = 0
    for resource in batch:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                kind = metric.WhichOneof("data")
                total += len(getattr(metric, kind).data_points) if kind else 0
    return total
