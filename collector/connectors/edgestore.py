"""Half-built edges waiting for their other half: bounded, expired in insertion order.

An edge is keyed by (trace id, span id of the client span): a client span stores itself under its
own span id, a server span under its parent's. Whichever arrives first waits here for at most
``wait_s``; every half waits the same time, so insertion order is expiry order and a sweep stops
at the first half still in time.
"""

from __future__ import annotations

CLIENT = 1
SERVER = 2


class Half:
    """What one side of a request said about it; filled in by the other side when it arrives."""

    __slots__ = (
        "client",
        "client_s",
        "conn",
        "expires",
        "failed",
        "peer",
        "root",
        "server",
        "server_s",
        "sides",
        "weight",
    )

    def __init__(self, weight: float, expires: float) -> None:
        self.weight = weight
        self.expires = expires
        self.sides = 0  # CLIENT | SERVER bits seen so far
        self.client = ""
        self.server = ""
        self.client_s = 0.0
        self.server_s = 0.0
        self.failed = False
        self.conn = ""  # Tempo's connection_type: "", messaging_system, database, virtual_node
        self.peer = ""  # the peer attribute naming an uninstrumented server or caller
        self.root = False  # a server span without a parent: its caller is outside the traces


class EdgeStore:
    """At most ``max_items`` pending halves; full means the new half is refused (and counted)."""

    def __init__(self, wait_s: float, max_items: int) -> None:
        self.wait_s = wait_s
        self.max_items = max_items
        self._pending: dict[bytes, Half] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def take(self, key: bytes) -> Half | None:
        """The half waiting under ``key``, removed from the store; None if none waits."""
        return self._pending.pop(key, None)

    def put(self, key: bytes, half: Half) -> bool:
        """Stores ``half`` to wait until its ``expires``. Returns False (not stored) when full."""
        pending = self._pending
        if len(pending) >= self.max_items:
            return False
        pending[key] = half
        return True

    def expire(self, now: float) -> list[Half]:
        """Removes and returns the halves whose wait ended by ``now``, oldest first."""
        pending = self._pending
        gone: list[bytes] = []
        for key, half in pending.items():
            if half.expires > now:
                break
            gone.append(key)
        return [pending.pop(key) for key in gone]

    def drain(self) -> list[Half]:
        """Removes and returns every pending half (at shutdown), oldest first."""
        halves = list(self._pending.values())
        self._pending.clear()
        return halves
