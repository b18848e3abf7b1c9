"""The SQLite trace store: durable group commits in a writer thread, queries in reader threads.

A batch is durable when the receiver answers 200: the receiver awaits ``durable()`` after
``consume_traces``, which returns once the writer thread has committed that batch (WAL mode, so
a killed process loses nothing committed; ``synchronous: full`` also survives power loss).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from collector.config import StorageConfig
from collector.otlp.spanbatch import SpanBatch
from collector.pipeline.consumer import Refused
from collector.storage.api import StorageError, StoreStats, TraceQuery
from collector.storage.queries import Reader
from collector.storage.segments import SegmentIndex
from collector.storage.writer import Kind, Writer, WriterSettings

T = TypeVar("T")


def _size(batch: Sequence[Any]) -> int:
    return sum(m.ByteSize() for m in batch)


DB_NAME = "traces.db"


class SqliteStore:
    """Traces and logs in ``<data_dir>/traces.db``; see ``api.TraceStore``."""

    def __init__(
        self, data_dir: Path, config: StorageConfig, clock: Callable[[], float] = time.time
    ) -> None:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = str(data_dir / DB_NAME)
        settings = WriterSettings(
            self.path, config.queue_batches, config.queue_bytes, config.retention_s,
            config.max_bytes, config.retention_interval_s, config.synchronous,
        )  # fmt: skip
        self.index = SegmentIndex()
        self._writer = Writer(settings, self.index, clock, self._from_writer)
        self._reader = Reader(self.index, self._fetch)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seq = 0
        self._committed = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._threads = ThreadPoolExecutor(2, thread_name_prefix="glassmesh-query")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._writer.start()

    def consume_traces(self, batch: Sequence[ResourceSpans]) -> None:
        self.consume_spans(SpanBatch.read(batch, check=False))

    def consume_spans(self, batch: SpanBatch) -> None:
        """Queue a read batch; its request bytes, when it has them, are stored as they are."""
        size = len(batch.raw) if batch.raw is not None else _size(batch.resources)
        self._put("spans", batch, size)

    def consume_logs(self, batch: Sequence[ResourceLogs]) -> None:
        self._put("logs", batch, _size(batch))

    def _put(self, kind: Kind, batch: Any, size: int) -> None:
        if self._loop is None or self._closed:
            raise Refused("storage_not_running", 5.0)
        self._seq = self._writer.put(kind, batch, size)

    async def durable(self) -> None:
        seq = self._seq
        if seq <= self._committed:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, future))
        await future

    def _from_writer(self, seq: int, error: BaseException | None) -> None:
        loop = self._loop
        if loop is not None:
            # RuntimeError: the loop closed under a last commit at shutdown.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._resolve, seq, error)

    def _resolve(self, seq: int, error: BaseException | None) -> None:
        self._committed = max(self._committed, seq)
        while self._waiters and self._waiters[0][0] <= seq:
            _, future = self._waiters.popleft()
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(StorageError(f"storage write failed: {error}"))

    def _fetch(self, segment_id: int) -> bytes | None:
        """A segment's bytes, on this reader thread's own read-only connection."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            uri = f"file:{self.path}?mode=ro"
            db = self._local.db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._connections.append(db)
        row = db.execute("SELECT body FROM segments WHERE id = ?", (segment_id,)).fetchone()
        return None if row is None else bytes(row[0])

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, partial(fn, *args))

    async def trace(self, trace_id: bytes) -> list[ResourceSpans]:
        return await self._read(self._reader.trace, trace_id)

    async def find_traces(self, query: TraceQuery) -> list[list[ResourceSpans]]:
        return await self._read(self._reader.find_traces, query)

    async def services(self) -> list[str]:
        return sorted(self.index.services)

    async def operations(self, service: str) -> list[tuple[str, int]]:
        return sorted((n, k) for s, n, k in self.index.operations if s == service)

    async def logs(self, trace_id: bytes) -> list[ResourceLogs]:
        return await self._read(self._reader.logs, trace_id)

    async def dependencies(self, start_ns: int, end_ns: int) -> list[tuple[str, str, int]]:
        return await self._read(self._reader.dependencies, start_ns, end_ns)

    def stats(self) -> StoreStats:
        w = self._writer
        return StoreStats(w.queued_batches, w.queued_bytes, self.index.size_bytes)

    async def shutdown(self) -> None:
        """Commit what is queued, answer waiting receivers, close every connection."""
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, self._writer.close)
        await asyncio.sleep(0)  # let the writer's last call_soon_threadsafe callbacks run
        self._threads.shutdown(wait=True)
        for db in self._connections:
            db.close()
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(StorageError("storage closed"))
        self._waiters.clear()
