"""The outbound route table: which cluster a request goes to, by host, then by route match.

A table maps each host to either a cluster (a host no HTTPRoute governs) or a virtual host: route
entries in precedence order (the control plane sorts them), each a match and weighted clusters.
The first entry whose match holds picks a cluster at random by weight. Tables are immutable once
built; a new snapshot builds a new table and the policy swaps it in one assignment, so a request
sees either the old table or the new one, never a mix.

Match semantics follow Gateway API: a PathPrefix matches whole path segments (``/a`` matches
``/a`` and ``/a/b``, not ``/ab``); header names are case-insensitive, values and query parameters
exact or a regular expression that must match the whole value; the first occurrence of a repeated
header or parameter counts. Paths are compared as sent, query string excluded.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from random import random
from urllib.parse import unquote_to_bytes

from sidecar.filters import Filters
from sidecar.http1.head import RequestHead
from sidecar.retry import DEFAULT, RetryPolicy
from sidecar.transport.pool import Cluster

EXACT = 0
PREFIX = 1
REGEX = 2


class ValueTest:
    """One header or query-parameter condition: the named value equals, or fully matches."""

    __slots__ = ("name", "pattern", "value")

    def __init__(self, name: bytes, value: bytes, regex: bool) -> None:
        self.name = name
        self.value = value
        self.pattern = re.compile(value) if regex else None

    def holds(self, found: bytes | None) -> bool:
        if found is None:
            return False
        if self.pattern is None:
            return found == self.value
        return self.pattern.fullmatch(found) is not None


class Entry:
    """A compiled route entry: its match and the clusters its requests go to, by weight.

    A backend whose cluster the sidecar does not have is None: its share is answered 500."""

    __slots__ = (
        "backends",
        "cumulative",
        "filters",
        "headers",
        "method",
        "name",
        "path",
        "path_kind",
        "path_pattern",
        "query",
        "retry",
        "segment",
        "timeout_s",
        "total",
        "try_timeout_s",
    )

    def __init__(
        self,
        name: str,
        *,
        path_kind: int,
        path: bytes,
        method: bytes | None,
        headers: list[ValueTest],
        query: list[ValueTest],
        backends: list[tuple[Cluster | None, int]],
        retry: RetryPolicy = DEFAULT,
        timeout_s: float = 0.0,
        try_timeout_s: float = 0.0,
        filters: Filters | None = None,
    ) -> None:
        """``timeout_s``: the whole request, retries included (0: the listener's); a try
        without a response within ``try_timeout_s`` (0: none) counts as failed."""
        self.name = name
        self.filters = filters
        self.retry = retry
        self.timeout_s = timeout_s
        self.try_timeout_s = try_timeout_s
        self.path_kind = path_kind
        self.path = path.rstrip(b"/") if path_kind == PREFIX else path
        self.path_pattern = re.compile(path) if path_kind == REGEX else None
        # The first path segment every request this entry matches starts with (None: any).
        first = _first_segment(self.path) if path_kind != REGEX else b""
        self.segment: bytes | None = first or None
        self.method = method
        self.headers = headers
        self.query = query
        self.backends = [cluster for cluster, weight in backends if weight > 0]
        self.cumulative: list[int] = []
        total = 0
        for _, weight in backends:
            if weight > 0:
                total += weight
                self.cumulative.append(total)
        self.total = total

    def matches(self, head: RequestHead, path: bytes) -> bool:
        """Whether the request (its origin-form ``path``, query included) matches."""
        if self.method is not None and head.method != self.method:
            return False
        cut = path.find(b"?")
        bare = path if cut < 0 else path[:cut]
        if not self._path_holds(bare):
            return False
        for test in self.headers:
            if not test.holds(_field(head, test.name)):
                return False
        if self.query:
            params = _query(path[cut + 1 :] if cut >= 0 else b"")
            for test in self.query:
                if not test.holds(params.get(test.name)):
                    return False
        return True

    def _path_holds(self, bare: bytes) -> bool:
        if self.path_kind == PREFIX:
            prefix = self.path
            if not bare.startswith(prefix):
                return False
            return len(bare) == len(prefix) or bare[len(prefix)] == 47  # "/"
        if self.path_kind == EXACT:
            return bare == self.path
        assert self.path_pattern is not None
        return self.path_pattern.fullmatch(bare) is not None

    def pick(self) -> Cluster | None:
        """A cluster by weight; None when the chosen backend (or every one) is unavailable."""
        backends = self.backends
        if len(backends) == 1:
            return backends[0]
        if not backends:
            return None
        return backends[bisect_right(self.cumulative, random() * self.total)]


class VirtualHost:
    """The entries of one Service, in precedence order, indexed by the first path segment they
    need: a request is only checked against the entries that could match it (a table of many
    prefixes costs a dictionary lookup, not a scan)."""

    __slots__ = ("_any", "_by_segment", "entries", "name")

    def __init__(self, name: str, entries: list[Entry]) -> None:
        self.name = name
        self.entries = entries
        self._any = [e for e in entries if e.segment is None]
        segments = {e.segment for e in entries if e.segment is not None}
        self._by_segment = {
            s: [e for e in entries if e.segment is None or e.segment == s] for s in segments
        }

    def find(self, head: RequestHead, path: bytes) -> Entry | None:
        """The first entry that matches, or None."""
        candidates = self._by_segment.get(_first_segment(path), self._any)
        for entry in candidates:
            if entry.matches(head, path):
                return entry
        return None


class RouteTable:
    """Hosts (lower case, no port) to a cluster or a virtual host."""

    __slots__ = ("clusters", "hosts")

    def __init__(
        self, hosts: dict[bytes, Cluster | VirtualHost], clusters: dict[str, Cluster]
    ) -> None:
        self.hosts = hosts
        self.clusters = clusters


def _first_segment(path: bytes) -> bytes:
    """``api`` of ``/api/v1?x``; empty for ``/`` or ``/?x``."""
    end = len(path)
    for stop in (b"/", b"?"):
        found = path.find(stop, 1)
        if 0 <= found < end:
            end = found
    return path[1:end]


def _field(head: RequestHead, name: bytes) -> bytes | None:
    names = head.names
    if name not in names:
        return None
    return head.values[names.index(name)]


def _query(query: bytes) -> dict[bytes, bytes]:
    """The first value of each query parameter, percent-decoded (``+`` is a space)."""
    params: dict[bytes, bytes] = {}
    for pair in query.split(b"&"):
        if not pair:
            continue
        key, _, value = pair.partition(b"=")
        key = unquote_to_bytes(key.replace(b"+", b" "))
        if key not in params:
            params[key] = unquote_to_bytes(value.replace(b"+", b" "))
    return params
