"""SpanTuples for the analysis tests, times in ms."""

from __future__ import annotations

from collector.analysis.tree import KIND_CLIENT, KIND_SERVER, SpanTuple

MS = 1_000_000
TRACE = bytes(range(1, 17))


def sid(n: int) -> bytes:
    return n.to_bytes(8, "big")


def span(n: int, parent: int, service: str, name: str, start_ms: float, end_ms: float,  # noqa: PLR0917
         *, kind: int = KIND_SERVER, error: bool = False) -> SpanTuple:  # fmt: skip
    return (sid(n), sid(parent) if parent else b"", service, name, kind,
            int(start_ms * MS), int(end_ms * MS), error)  # fmt: skip


def call(n: int, parent: int, caller: str, callee: str, start_ms: float, end_ms: float,  # noqa: PLR0917
         *, net_ms: float = 0.5, error: bool = False) -> list[SpanTuple]:  # fmt: skip
    """A CLIENT span (id n) of ``caller`` and the SERVER span (id n + 1000) of ``callee``."""
    return [
        span(n, parent, caller, f"call {callee}", start_ms, end_ms, kind=KIND_CLIENT, error=error),
        span(n + 1000, n, callee, "GET /", start_ms + net_ms, end_ms - net_ms, error=error),
    ]
