"""How many requests one sampled span stands for: 1/p, p its sampling probability where known.

Two sources, the first found wins:

* a span attribute named by ``span_multiplier_key`` (Tempo's ``X-SampleRatio``) holding p;
* the W3C ``tracestate`` entry ``ot=th:<hex>`` of OpenTelemetry's probability sampling: the
  rejection threshold T is the hex digits right-padded to 14 (56 bits), and p = 1 - T / 2**56.

Anything unknown or malformed weighs 1 (the span counts as itself).
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.proto.common.v1.common_pb2 import KeyValue

MAX_THRESHOLD = 1 << 56
_CACHE_LIMIT = 1024


def ratio_weight(value: float) -> float:
    """1/``value`` for a probability in (0, 1]; 1.0 for anything else."""
    return 1.0 / value if 0.0 < value <= 1.0 else 1.0


def threshold_weight(tracestate: str) -> float:
    """The adjusted count that ``tracestate``'s ``ot=th:`` threshold implies; 1.0 if none."""
    for member in tracestate.split(","):
        key, _, value = member.strip().partition("=")
        if key != "ot":
            continue
        for field in value.split(";"):
            name, _, digits = field.partition(":")
            if name == "th":
                return _from_threshold(digits)
    return 1.0


def _from_threshold(digits: str) -> float:
    if not 1 <= len(digits) <= 14:
        return 1.0
    try:
        threshold = int(digits.ljust(14, "0"), 16)
    except ValueError:
        return 1.0
    return MAX_THRESHOLD / (MAX_THRESHOLD - threshold)


class Weigher:
    """Weights spans, caching the parse of each distinct tracestate (bounded)."""

    def __init__(self, multiplier_key: str, use_tracestate: bool) -> None:
        self._key = multiplier_key
        self._use_tracestate = use_tracestate
        self._cache: dict[str, float] = {}

    def weight(self, tracestate: str, attributes: Iterable[KeyValue]) -> float:
        """The span's weight (>= 1.0). Never raises; does not block."""
        key = self._key
        if key:
            for kv in attributes:
                if kv.key == key:
                    value = kv.value
                    return ratio_weight(value.double_value or float(value.int_value))
        if not tracestate or not self._use_tracestate:
            return 1.0
        cached = self._cache.get(tracestate)
        if cached is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            cached = self._cache[tracestate] = threshold_weight(tracestate)
        return cached
