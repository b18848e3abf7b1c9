"""The memory limiter: refuse data while the process's resident memory is above its soft limit.

The OpenTelemetry Collector's memory_limiter: soft limit = ``limit_mib - spike_limit_mib``; above
it every batch is refused with a retryable error (the receivers answer 503 / UNAVAILABLE with
Retry-After) until memory falls back. RSS is read at most once per ``check_interval_s``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from collector.config import MemoryLimiterConfig
from collector.pipeline.consumer import Refused

MIB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """This process's resident set size (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


class MemoryLimiter:
    def __init__(
        self,
        config: MemoryLimiterConfig,
        clock: Callable[[], float] = time.monotonic,
        read_rss: Callable[[], int] = rss_bytes,
    ) -> None:
        self.soft_bytes = (config.limit_mib - config.spike_limit_mib) * MIB
        self._interval = config.check_interval_s
        self._clock = clock
        self._read = read_rss
        self._checked = -1e18
        self.rss = 0

    def check(self) -> None:
        """Raises Refused("memory_limit") while RSS is above the soft limit."""
        now = self._clock()
        if now - self._checked >= self._interval:
            self._checked = now
            self.rss = self._read()
        if self.rss > self.soft_bytes:
            raise Refused("memory_limit", retry_after_s=max(1.0, self._interval))
