"""Round-robin choice over a cluster's endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class RoundRobin(Generic[T]):
    """Hands out the items in turn; an empty set yields None."""

    __slots__ = ("_items", "_next")

    def __init__(self, items: Sequence[T]) -> None:
        self._items = list(items)
        self._next = 0

    def pick(self, key: bytes | None = None) -> T | None:
        """The next item, or None when there is none (``key`` is not used)."""
        items = self._items
        if not items:
            return None
        index = self._next
        if index >= len(items):
            index = 0
        self._next = index + 1
        return items[index]
