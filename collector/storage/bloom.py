"""Bloom filters over trace ids: which stored segments may hold a trace.

20 bits per distinct trace id and 4 probes: about one false positive in 900 segments, so a trace
lookup decodes almost only segments that hold it. The probes are sums of neighbouring 32-bit
words of the id (W3C trace ids are random; an id varying only in its last word still varies
every probe), so they are stable across restarts and cost one ``struct`` call per id.
"""

from __future__ import annotations

import struct
from collections.abc import Collection

BITS_PER_ID = 20
_words = struct.Struct("<4I").unpack


def probes(trace_id: bytes) -> tuple[int, int, int, int]:
    """The four probe values of a 16-byte id (any other length is padded or cut)."""
    a, b, c, d = _words(trace_id[:16].ljust(16, b"\x00"))
    return a + b, b + c, c + d, d + a


def make(trace_ids: Collection[bytes]) -> bytes:
    """A filter holding ``trace_ids``."""
    bits = bytearray(max(8, (len(trace_ids) * BITS_PER_ID + 7) // 8))
    m = len(bits) * 8
    for trace_id in trace_ids:
        for h in probes(trace_id):
            pos = h % m
            bits[pos >> 3] |= 1 << (pos & 7)
    return bytes(bits)


def mask(hashes: tuple[int, int, int, int], nbytes: int) -> int:
    """The probe bits of ``hashes`` in a filter of ``nbytes`` bytes, as an integer: a filter
    read with ``as_int`` may hold the id only if ``bits & mask == mask``."""
    m = nbytes * 8
    out = 0
    for h in hashes:
        out |= 1 << (h % m)
    return out


def as_int(bloom: bytes) -> int:
    """The filter as one integer, bit ``p`` the filter's bit ``p`` (one AND tests an id)."""
    return int.from_bytes(bloom, "little")


def may_hold(bloom: bytes, hashes: tuple[int, int, int, int]) -> bool:
    """False when the filter certainly lacks the id whose ``probes`` are ``hashes``."""
    m = len(bloom) * 8
    for h in hashes:
        pos = h % m
        if not bloom[pos >> 3] & (1 << (pos & 7)):
            return False
    return True
