"""OTLP metric and attribute names as Prometheus names (the OpenTelemetry-to-Prometheus rules).

The name is split into tokens at every character outside ``[a-zA-Z0-9:]`` (so runs of invalid
characters and underscores become one ``_``, and none leads or trails); the unit's main part
(``s`` -> ``seconds``, ``By`` -> ``bytes``, ``1`` -> nothing; one holding ``{...}`` is dropped)
and its ``/per`` part (``/s`` -> ``per_second``) are appended unless the name already has that
token; a monotonic sum loses its ``total`` tokens (the exposition appends ``_total``); a gauge
of unit ``1`` ends in ``ratio``; a leading digit gets a ``_`` prefix. Mirrors prometheus/
otlptranslator's ``normalizeName``, which the OpenTelemetry Collector's exporter uses.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[^a-zA-Z0-9:]+")
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]+")
_UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes",
    "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tebibytes", "KBy": "kilobytes",
    "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes", "m": "meters", "V": "volts",
    "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius", "Hz": "hertz",
    "1": "", "%": "percent",
}  # fmt: skip
_PER = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month",
        "y": "year"}  # fmt: skip


def label_name(key: str) -> str:
    """An attribute key as a label name: invalid characters become ``_``, a leading digit gets
    ``key_``."""
    name = _INVALID_LABEL.sub("_", key)
    return "key_" + name if name[:1].isdigit() else name or "_"


def _clean(unit: str) -> str:
    return "_".join(_SEPARATORS.split(unit)).strip("_")


def unit_tokens(unit: str) -> tuple[str, str]:
    """(main, per) suffixes of ``unit``: ``By/s`` -> ("bytes", "per_second"); "" where none."""
    main, _, per = unit.partition("/")
    main, per = main.strip(), per.strip()
    main_suffix = _clean(_UNITS.get(main, main)) if main and not _braces(main) else ""
    per_suffix = _clean(_PER.get(per, per)) if per and not _braces(per) else ""
    return main_suffix, "per_" + per_suffix if per_suffix else ""


def _braces(unit: str) -> bool:
    return "{" in unit or "}" in unit


def metric_name(name: str, unit: str, *, counter: bool, gauge: bool) -> str:
    """The Prometheus family name. A ``counter`` (monotonic sum) comes without ``_total``: the
    exposition appends it to the sample (and OpenMetrics names the family without it)."""
    tokens = [t for t in _SEPARATORS.split(name) if t]
    main, per = unit_tokens(unit)
    if main and main not in tokens:
        tokens.append(main)
    if per and per not in tokens:
        tokens.append(per)
    if counter:
        tokens = [t for t in tokens if t != "total"]
    if gauge and unit == "1":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    joined = "_".join(tokens) or "_"
    return "_" + joined if joined[0].isdigit() else joined
