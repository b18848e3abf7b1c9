"""A route rule's filters, compiled once per snapshot: header modifiers, URL rewrite, request
mirror and fault injection (Gateway API HTTPRoute filters and the glassmesh.io Fault).

- RequestHeaderModifier / ResponseHeaderModifier: ``set`` replaces a field, ``add`` appends one,
  ``remove`` drops it (names case-insensitive).
- URLRewrite: ``hostname`` replaces the Host; ``ReplaceFullPath`` the whole path;
  ``ReplacePrefixMatch`` the part of the path the rule's PathPrefix matched (query kept).
- RequestMirror: a copy of the request goes to another cluster, its answer thrown away; only
  requests that fit the replay buffer are copied (``sidecar.mirror``).
- Fault: an abort answers ``httpStatus`` itself (flag FI) and a delay holds the request back
  (flag DI), each for its percentage of requests.
"""

from __future__ import annotations

from random import random

from controlplane.api.resources import FaultSpec, HeaderModifier, RouteFilter, URLRewrite
from controlplane.api.resources.base import parse_duration
from sidecar.transport.pool import Cluster

# (names to drop, field lines to add)
Modifier = tuple[frozenset[bytes], list[bytes]]


class Filters:
    """What one rule's filters do to its requests and responses."""

    __slots__ = (
        "abort_percent",
        "abort_status",
        "delay_percent",
        "delay_s",
        "host",
        "mirror",
        "mirror_percent",
        "path",
        "prefix",
        "request",
        "response",
    )

    def __init__(
        self,
        filters: list[RouteFilter],
        fault: FaultSpec | None,
        mirror: Cluster | None,
    ) -> None:
        """Raises ValueError (from a header value that is not Latin-1) or UnicodeEncodeError."""
        self.request: Modifier | None = None
        self.response: Modifier | None = None
        self.host: bytes | None = None
        self.path: bytes | None = None  # ReplaceFullPath
        self.prefix: bytes | None = None  # ReplacePrefixMatch
        self.mirror = mirror
        self.mirror_percent = 100.0
        for f in filters:
            if f.requestHeaderModifier is not None:
                self.request = _modifier(f.requestHeaderModifier)
            elif f.responseHeaderModifier is not None:
                self.response = _modifier(f.responseHeaderModifier)
            elif f.urlRewrite is not None:
                self._rewrite(f.urlRewrite)
            elif f.requestMirror is not None and f.requestMirror.percent is not None:
                self.mirror_percent = f.requestMirror.percent
        self.delay_s = 0.0
        self.delay_percent = 0.0
        self.abort_status = 0
        self.abort_percent = 0.0
        if fault is not None and fault.delay is not None:
            self.delay_s = parse_duration(fault.delay.fixedDelay)
            self.delay_percent = fault.delay.percentage
        if fault is not None and fault.abort is not None:
            self.abort_status = fault.abort.httpStatus
            self.abort_percent = fault.abort.percentage

    def _rewrite(self, rewrite: URLRewrite) -> None:
        if rewrite.hostname is not None:
            self.host = rewrite.hostname.encode("ascii")
        if rewrite.path is not None:
            if rewrite.path.replaceFullPath is not None:
                self.path = rewrite.path.replaceFullPath.encode()
            elif rewrite.path.replacePrefixMatch is not None:
                self.prefix = rewrite.path.replacePrefixMatch.encode()

    def rewrite_path(self, path: bytes, matched_prefix: bytes) -> bytes:
        """``path`` (query included) as the URLRewrite filter has it sent."""
        if self.path is None and self.prefix is None:
            return path
        cut = path.find(b"?")
        bare, query = (path, b"") if cut < 0 else (path[:cut], path[cut:])
        if self.path is not None:
            return self.path + query
        assert self.prefix is not None
        rest = bare[len(matched_prefix) :]
        if not rest:
            return self.prefix + query
        joined = self.prefix.rstrip(b"/") + (rest if rest.startswith(b"/") else b"/" + rest)
        return (joined or b"/") + query

    def aborts(self) -> bool:
        """Whether this request is to be aborted (rolled against the abort percentage)."""
        return self.abort_status != 0 and random() * 100.0 < self.abort_percent

    def delays(self) -> float:
        """Seconds to hold this request back (0.0: not this one)."""
        if self.delay_s and random() * 100.0 < self.delay_percent:
            return self.delay_s
        return 0.0

    def mirrors(self) -> Cluster | None:
        """The cluster to copy this request to, if it is to be copied."""
        if self.mirror is not None and random() * 100.0 < self.mirror_percent:
            return self.mirror
        return None


def _modifier(modifier: HeaderModifier) -> Modifier:
    drop = {h.name.lower().encode("ascii") for h in modifier.set}
    drop |= {name.lower().encode("ascii") for name in modifier.remove}
    lines = [
        b"%s: %s\r\n" % (h.name.lower().encode("ascii"), h.value.encode("latin-1"))
        for h in (*modifier.set, *modifier.add)
    ]
    return frozenset(drop), lines
