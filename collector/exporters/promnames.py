"""OTLP metric and attribute names as Prometheus names (the OpenTelemetry-to-Prometheus rules).

Invalid characters become ``_``; a leading digit gets a ``_`` prefix; the unit becomes a suffix
(``s`` -> ``_seconds``, ``By`` -> ``_bytes``, ``1`` -> ``_ratio`` for gauges, ``{...}``
annotations dropped, ``a/b`` -> ``a_per_b``) unless the name already ends with it; monotonic sums
get ``_total``.
"""

from __future__ import annotations

import re

_INVALID_NAME = re.compile(r"[^a-zA-Z0-9_:]+")
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]+")
_UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes",
    "MiBy": "mebibytes", "GiBy": "gibibytes", "KBy": "kilobytes", "MBy": "megabytes",
    "GBy": "gigabytes", "m": "meters", "V": "volts", "A": "amperes", "J": "joules",
    "W": "watts", "g": "grams", "Cel": "celsius", "Hz": "hertz", "%": "percent",
}  # fmt: skip
_PER = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month",
        "y": "year"}  # fmt: skip


def label_name(key: str) -> str:
    name = _INVALID_LABEL.sub("_", key)
    return "key_" + name if name[:1].isdigit() else name or "_"


def unit_suffix(unit: str, is_gauge: bool) -> str:
    unit = re.sub(r"\{[^}]*\}", "", unit).strip()
    if unit == "1":
        return "ratio" if is_gauge else ""
    main, _, per = unit.partition("/")
    parts = [_UNITS.get(main, main)] if main else []
    if per:
        parts.append("per_" + _PER.get(per, _UNITS.get(per, per)))
    return _INVALID_LABEL.sub("_", "_".join(parts)).strip("_")


def metric_name(name: str, unit: str, *, counter: bool, gauge: bool) -> str:
    """The Prometheus family name (without ``_total``; see ``sample_name``)."""
    base = _INVALID_NAME.sub("_", name).strip("_") or "_"
    if base[0].isdigit():
        base = "_" + base
    if counter and base.endswith("_total"):
        base = base[: -len("_total")]
    suffix = unit_suffix(unit, gauge)
    if suffix and not base.endswith("_" + suffix):
        base = f"{base}_{suffix}"
    return base
