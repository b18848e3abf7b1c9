"""Windows over cumulative tallies: snapshots every slot, a window is now minus a snapshot.

Tallies only grow, so the counts of the last W seconds are the current tallies minus a snapshot
taken about W seconds ago. Snapshots are taken at most once per ``slot_s`` (when ``tick`` is
called before a change, and before a query) and kept for ``retention_s``; a window therefore
starts on a snapshot and its true span (``covered_s``) is reported with the answer.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class History(Generic[K]):
    """Snapshots of ``read()`` (key -> the first ``width`` values of its tally)."""

    def __init__(
        self,
        read: Callable[[], Mapping[K, Sequence[float]]],
        width: int,
        slot_s: float,
        retention_s: float,
        start_s: float,
    ) -> None:
        self._read = read
        self._width = width
        self._slot_s = slot_s
        self._snaps: deque[tuple[float, dict[K, array[float]]]] = deque(
            maxlen=math.ceil(retention_s / slot_s) + 1
        )
        self._snaps.append((start_s, {}))  # nothing was counted before the start
        self._due = start_s + slot_s

    def tick(self, now: float) -> None:
        """Takes a snapshot if one is due. Call it before changing the tallies."""
        if now < self._due:
            return
        width = self._width
        snap = {key: array("d", values[:width]) for key, values in self._read().items()}
        self._snaps.append((now, snap))
        self._due = now + self._slot_s

    def window(self, now: float, window_s: float) -> tuple[dict[K, list[float]], float]:
        """(key -> counts added within about ``window_s`` before ``now``, seconds covered).

        Keys with nothing added are left out."""
        self.tick(now)
        start, base = self._base(now - window_s)
        width = self._width
        out: dict[K, list[float]] = {}
        for key, values in self._read().items():
            before = base.get(key)
            diff = list(values[:width]) if before is None else _minus(values, before, width)
            if diff[0] > 0:
                out[key] = diff
        return out, max(now - start, 0.0)

    def _base(self, since: float) -> tuple[float, dict[K, array[float]]]:
        for taken, snap in self._snaps:
            if taken >= since:
                return taken, snap
        return self._snaps[-1]


def _minus(values: Sequence[float], before: array[float], width: int) -> list[float]:
    return [values[i] - before[i] for i in range(width)]


def quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float | None:
    """Prometheus' histogram_quantile over per-bucket ``counts`` (len(bounds) + 1).

    Linear within a bucket, the last finite bound for the +Inf bucket; None with no counts."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for i, count in enumerate(counts):
        if seen + count >= rank and count > 0:
            if i >= len(bounds):
                return bounds[-1]
            lower = bounds[i - 1] if i > 0 else 0.0
            return lower + (bounds[i] - lower) * (rank - seen) / count
        seen += count
    return bounds[-1]
