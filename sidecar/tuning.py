"""Process-wide tuning of the sidecar's allocator and cyclic garbage collector.

uvloop's TLS layer reads each record into a fresh 256 KiB buffer and shrinks it to the record's
size. With glibc's default (dynamic) mmap threshold that costs an mmap, an mremap and a munmap
per read, three syscalls and page faults on the request path. Fixing the mmap threshold above
that size and the trim threshold well above it keeps those buffers in the heap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger("glassmesh.sidecar")

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1024 * 1024
TRIM_THRESHOLD_BYTES = 8 * 1024 * 1024
# Allocations between first-generation collections (CPython's default: 700).
GC_THRESHOLD = 50_000


def tune_allocator() -> bool:
    """Apply the thresholds with glibc's mallopt; returns False where there is no glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1)
    ok = bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1) and ok
    if not ok:
        log.debug("mallopt refused the allocator thresholds")
    return ok


def tune_gc() -> None:
    """Collect cycles less often, and never scan what start-up built.

    Each request allocates a few dozen container objects and frees them by reference counting;
    with telemetry on, each also leaves an exchange record (holding its request head) queued for
    up to a flush interval, so with CPython's default thresholds those records survive a
    first-generation collection, get promoted and are scanned again by the older generations.
    The request path makes no cyclic garbage of its own, so collecting every 50,000 allocations
    costs little memory, and objects that live for the whole process (modules, config, TLS
    contexts) are frozen out of every scan.
    """
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)
