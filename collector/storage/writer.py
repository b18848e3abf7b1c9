"""The storage writer thread: a bounded queue in, group commits out, retention between.

The event loop thread only enqueues (``put`` never blocks; a full queue raises Refused). The
writer takes everything queued, writes one segment per batch in a single transaction and reports
the highest committed sequence number, so concurrent requests share one commit. Retention by age
and by size runs in the same thread, between commits: it deletes whole segments, oldest first.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from collector.pipeline.consumer import Refused
from collector.storage import bloom, schema
from collector.storage.segments import (
    LOGS,
    TRACES,
    Segment,
    SegmentIndex,
    decode_services,
    encode_services,
    summarize_logs,
    summarize_spans,
)

log = logging.getLogger("glassmesh.collector.storage")
Kind = Literal["spans", "logs"]
Item = tuple[int, Kind, Any, int]  # seq, kind, SpanBatch or ResourceLogs list, bytes


@dataclass(frozen=True)
class WriterSettings:
    path: str
    queue_batches: int
    queue_bytes: int
    retention_s: float
    max_bytes: int
    retention_interval_s: float
    synchronous: str = "normal"


class Writer:
    """Owns the write connection, the segment index's updates and the writer thread.
    ``on_commit(seq, error)`` is called from the writer thread after each transaction."""

    def __init__(
        self,
        settings: WriterSettings,
        index: SegmentIndex,
        clock: Callable[[], float],
        on_commit: Callable[[int, BaseException | None], None],
    ) -> None:
        self.settings = settings
        self.index = index
        self._clock = clock
        self._on_commit = on_commit
        self._cond = threading.Condition()
        self._items: deque[Item] = deque()
        self._seq = 0
        self._closing = False
        self.queued_bytes = 0
        self.deleted_segments = 0
        self._db = schema.open_db(settings.path, settings.synchronous)
        self._load()
        self._last_retention = clock()
        self._thread = threading.Thread(target=self._run, name="glassmesh-storage", daemon=True)

    def _load(self) -> None:
        sql = "SELECT id, signal, received_s, length(body), bloom, services FROM segments"
        for i, signal, at, size, ids, services in self._db.execute(sql + " ORDER BY id"):
            self.index.add(Segment(i, signal, at, size, ids, decode_services(services)))
        for service, name, kind in self._db.execute("SELECT service, name, kind FROM operations"):
            self.index.operations.add((service, name, kind))
            self.index.services.add(service)

    def start(self) -> None:
        self._thread.start()

    def put(self, kind: Kind, batch: Any, nbytes: int) -> int:
        """Queue a batch; returns its sequence number. Raises Refused when the queue is full."""
        with self._cond:
            if self._closing:
                raise Refused("shutting_down", 5.0)
            if len(self._items) >= self.settings.queue_batches or (
                self._items and self.queued_bytes + nbytes > self.settings.queue_bytes
            ):
                raise Refused("storage_queue_full", 1.0)
            self._seq += 1
            self._items.append((self._seq, kind, batch, nbytes))
            self.queued_bytes += nbytes
            self._cond.notify()
            return self._seq

    @property
    def queued_batches(self) -> int:
        return len(self._items)

    def close(self) -> None:
        """Write what is queued, stop the thread and close the connection. Idempotent."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join()
        self._db.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._items or self._closing, self.settings.retention_interval_s
                )
                taken = list(self._items)
                self._items.clear()
                closing = self._closing
            now = self._clock()  # as of the take: a commit's waiter may move a test clock on
            if taken:
                self._write(taken)
            self._maybe_retain(now)
            if closing and not taken:
                return

    def _write(self, taken: list[Item]) -> None:
        error: BaseException | None = None
        try:
            self._db.execute("BEGIN")
            added, operations = self._insert(taken)
            self._db.execute("COMMIT")
        except (sqlite3.Error, ValueError, OverflowError) as exc:
            log.error("storage write failed: %s", exc)
            error = exc
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
        else:
            for segment in added:
                self.index.add(segment)
            self.index.operations |= operations
            self.index.services.update(s for s, _, _ in operations)
        with self._cond:
            self.queued_bytes -= sum(item[3] for item in taken)
        self._on_commit(taken[-1][0], error)

    def _insert(self, taken: list[Item]) -> tuple[list[Segment], set[tuple[str, str, int]]]:
        now = self._clock()
        added, operations = [], set()
        for _, kind, batch, _ in taken:
            if kind == "spans":
                summary, signal = summarize_spans(batch), TRACES
                body = (
                    batch.raw if batch.raw is not None else schema.encode_request(batch.resources)
                )
            else:
                summary, signal = summarize_logs(batch), LOGS
                body = schema.encode_request(batch)
            ids = bloom.make(summary.trace_ids)
            cur = self._db.execute(
                schema.INSERT_SEGMENT,
                (None, signal, now, ids, encode_services(summary.services), body),
            )
            segment_id = int(cur.lastrowid or 0)
            added.append(Segment(segment_id, signal, now, len(body), ids, summary.services))
            operations |= summary.operations() - self.index.operations
        self._db.executemany(schema.INSERT_OPERATION, sorted(operations))
        return added, operations

    def _maybe_retain(self, now: float) -> None:
        if now - self._last_retention < self.settings.retention_interval_s:
            return
        self._last_retention = now
        try:
            cut = self.index.newest_before(now - self.settings.retention_s)
            if cut is not None:
                self._delete_up_to(cut)
            if self.index.size_bytes > self.settings.max_bytes:
                self._delete_up_to(self._size_cut())
        except sqlite3.Error as exc:
            log.error("retention failed: %s", exc)

    def _size_cut(self) -> int:
        """The id up to which deleting the oldest segments brings the store to 90 % of max."""
        excess = self.index.size_bytes - int(self.settings.max_bytes * 0.9)
        cut = 0
        for segment in self.index.snapshot():
            if excess <= 0:
                break
            excess -= segment.size
            cut = segment.id
        return cut

    def _delete_up_to(self, segment_id: int) -> None:
        cur = self._db.execute("DELETE FROM segments WHERE id <= ?", (segment_id,))
        self.deleted_segments += max(cur.rowcount, 0)
        self.index.drop_up_to(segment_id)
