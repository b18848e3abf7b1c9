"""Consistent hashing on a ring (Envoy's RING_HASH): a key always lands on the same endpoint
while the set does not change, and taking one of N endpoints away moves only about 1/N of keys.

Each item gets ``VNODES`` points on a 32-bit ring, at CRC-32 of its name and the point's index; a
key goes to the first point at or after CRC-32 of the key. CRC-32 is stable across processes, so
every client sidecar maps a key to the same endpoint. A request without a key (the header or
cookie is missing) gets a random item.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from random import randrange
from typing import Generic, TypeVar
from zlib import crc32

from sidecar.http1.head import RequestHead

T = TypeVar("T")
VNODES = 160


class RingHash(Generic[T]):
    """Items on a hash ring; ``pick(key)`` is the item owning ``key``."""

    __slots__ = ("_items", "_owners", "_points")

    def __init__(self, items: Sequence[T], name: Callable[[T], str]) -> None:
        self._items = list(items)
        ring = sorted(
            (crc32(f"{name(item)}#{i}".encode()), index)
            for index, item in enumerate(self._items)
            for i in range(VNODES)
        )
        self._points = [point for point, _ in ring]
        self._owners = [self._items[index] for _, index in ring]

    def pick(self, key: bytes | None = None) -> T | None:
        items = self._items
        if not items:
            return None
        if key is None:
            return items[randrange(len(items))]
        at = bisect_left(self._points, crc32(key))
        return self._owners[at if at < len(self._owners) else 0]


def header_key(head: RequestHead, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case), or None."""
    names = head.names
    if name not in names:
        return None
    return head.values[names.index(name)]


def cookie_key(head: RequestHead, name: bytes) -> bytes | None:
    """The value of cookie ``name`` in the request's Cookie headers, or None."""
    prefix = name + b"="
    for field, value in zip(head.names, head.values, strict=True):
        if field != b"cookie":
            continue
        for pair in value.split(b";"):
            cookie = pair.strip()
            if cookie.startswith(prefix):
                return cookie[len(prefix) :]
    return None
