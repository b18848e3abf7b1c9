"""Operation names for analysis: a span named only by its HTTP method (as the sidecar's are)
gets its route, else its path with id-like segments folded (``GET /items/{id}``), so
``GET /cart`` and ``GET /stock`` are different operations but every item id is not."""

from __future__ import annotations

import re
from collections.abc import Iterable

from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from controlplane.api.telemetry import HTTP_ROUTE, URL_PATH

METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                     "PATCH"))  # fmt: skip
MAX_PATH = 120
MAX_CACHED = 50_000  # folded paths remembered
_folded: dict[str, str] = {}
_ID = re.compile(r"^(?!v\d+$).*\d")  # any segment with a digit, but an API version (v2)


def operation(name: str, attributes: Iterable[KeyValue]) -> str:
    """``name``, with the route or folded path appended when ``name`` is a bare HTTP method
    (whichever of ``http.route`` and ``url.path`` comes first: reading attributes is the
    costly part, and the sidecar puts the path second)."""
    if name not in METHODS:
        return name
    for kv in attributes:
        key = kv.key
        if key == URL_PATH:
            return f"{name} {fold(kv.value.string_value)}"
        if key == HTTP_ROUTE:
            return f"{name} {kv.value.string_value[:MAX_PATH]}"
    return name


def fold(path: str) -> str:
    """``path`` with every segment holding a digit (ids: ``42``, ``u4``, uuids) but a version
    (``v2``) replaced by ``{id}``, cut at MAX_PATH."""
    folded = _folded.get(path)
    if folded is None:
        parts = ["{id}" if _ID.match(p) else p for p in path[:MAX_PATH].split("/")]
        folded = "/".join(parts)
        if len(_folded) >= MAX_CACHED:
            _folded.clear()
        _folded[path] = folded
    return folded
