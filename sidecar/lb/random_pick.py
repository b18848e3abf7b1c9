"""Random choice, and least request: the less busy of two endpoints picked at random.

Power of two choices (Envoy's LEAST_REQUEST): nearly as good as scanning every endpoint for the
least busy, at the cost of two lookups, and without every client herding onto the same one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from random import randrange
from typing import Generic, TypeVar

T = TypeVar("T")


class RandomPick(Generic[T]):
    """Any item, uniformly; None when there is none."""

    __slots__ = ("_items",)

    def __init__(self, items: Sequence[T]) -> None:
        self._items = list(items)

    def pick(self, key: bytes | None = None) -> T | None:
        items = self._items
        if not items:
            return None
        return items[randrange(len(items))]


class LeastRequest(Generic[T]):
    """Of two distinct items picked at random, the one with the lower ``load``."""

    __slots__ = ("_items", "_load")

    def __init__(self, items: Sequence[T], load: Callable[[T], int]) -> None:
        self._items = list(items)
        self._load = load

    def pick(self, key: bytes | None = None) -> T | None:
        items = self._items
        count = len(items)
        if count < 2:
            return items[0] if items else None
        first = randrange(count)
        second = randrange(count - 1)
        if second >= first:
            second += 1
        a, b = items[first], items[second]
        return a if self._load(a) <= self._load(b) else b
