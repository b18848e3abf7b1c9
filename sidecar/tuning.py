"""Process-wide tuning of the sidecar's allocator.

uvloop's TLS layer reads each record into a fresh 256 KiB buffer and shrinks it to the record's
size. With glibc's default (dynamic) mmap threshold that costs an mmap, an mremap and a munmap
per read, three syscalls and page faults on the request path. Fixing the mmap threshold above
that size and the trim threshold well above it keeps those buffers in the heap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("glassmesh.sidecar")

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1024 * 1024
TRIM_THRESHOLD_BYTES = 8 * 1024 * 1024


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
